"""The house's import rules (ARCHITECTURE.md), checked on the source itself.

1. Floors: a module imports only from its own package or from a lower floor, never from a higher one.
2. A function-local `rephraser.*` import (outside commands/) is allowed only where it guards a heavy
   optional library: its target imports torch, vLLM, llama.cpp, transformers, Ray or matplotlib when
   it is loaded. Everything else is imported at the top of the module, where a reader sees it.
3. `import rephraser.cli` (what `rephraser --help` pays) loads none of the heavy libraries.
4. No circles: no module reaches itself through imports, counting top-level, function-local and
   `if TYPE_CHECKING` ones alike (a circle hidden in a function or behind TYPE_CHECKING still ties the
   two modules into one unit that cannot be understood, tested or moved apart).
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "rephraser"

# Lowest first. A name is a top-level module or package of src/rephraser; each may use any floor below.
FLOORS: list[tuple[str, ...]] = [
    ("__init__",), ("redact",), ("logs",), ("errors",), ("yaml_errors",), ("sizes",), ("atomic",), ("lease",), ("storage",), ("manifests",), ("writer_leases",), ("hub",), ("route_config",), ("config",),
    ("records",), ("cost",), ("run_folder",), ("run_identity",), ("verify",),  # ground floor ends: shared by every stage, knows none of them
    ("sources",),  # documents in
    ("prompts",),  # prompt specs: template, contract, validators
    ("engines",),  # inference behind one protocol
    ("mix",),  # token-ratio mixtures and token shards
    ("train",),  # proxy training: reads mix's token shards, writes checkpoints
    ("evaluate",),  # the benchmark suite and bits-per-byte: scores train's checkpoints (or any HF model)
    ("postprocess",),  # contracts applied, stats, dedup, decontamination (needs the benchmark items)
    ("routing",),  # which prompts each document gets: facts, classifier scores (postprocess), routes
    ("generate",),  # the runner: judges every output by its prompt's contract as it arrives
    ("report",),
    ("scale",),  # Ray, Slurm, plan: run the runner somewhere else
    ("experiments",),  # grids of generate -> mix -> train -> evaluate
    ("commands",), ("cli",),
]
FLOOR = {name: i for i, names in enumerate(FLOORS) for name in names}
HEAVY_LIBS = {"torch", "vllm", "llama_cpp", "transformers", "ray", "matplotlib"}


def _modules() -> dict[str, Path]:
    mods = {}
    for f in sorted(SRC.rglob("*.py")):
        parts = ("rephraser", *f.relative_to(SRC).with_suffix("").parts)
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return mods


def _unit(module: str) -> str:
    """The floor unit of a module: its top-level package or module under rephraser."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(path: Path) -> list[tuple[str, int, bool, bool]]:
    """(imported rephraser module, line, inside a function, inside `if TYPE_CHECKING`) for every import."""
    found: list[tuple[str, int, bool, bool]] = []

    def visit(node: ast.AST, in_func: bool, type_only: bool) -> None:
        for child in ast.iter_child_nodes(node):
            func = in_func or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
            typed = type_only or (isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test))
            if isinstance(child, ast.ImportFrom) and child.module and child.module.split(".")[0] == "rephraser":
                # `from rephraser.x import y` imports module rephraser.x.y when there is one (see _resolve)
                found.extend((f"{child.module}.{a.name}", child.lineno, in_func, type_only) for a in child.names)
            elif isinstance(child, ast.Import):
                found.extend((a.name, child.lineno, in_func, type_only) for a in child.names
                             if a.name.split(".")[0] == "rephraser")
            visit(child, func, typed)

    visit(ast.parse(path.read_text(encoding="utf-8")), False, False)
    return found


def _top_level_libs(path: Path) -> set[str]:
    libs = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            libs.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            libs.add(node.module.split(".")[0])
    return libs


def _resolve(target: str, mods: dict[str, Path]) -> str | None:
    """The module an import loads: rephraser.x.y when that is a module, else rephraser.x (y is a name in it)."""
    while target and target not in mods:
        target = target.rpartition(".")[0]
    return target or None


def test_every_unit_has_a_floor():
    units = {_unit(m) for m in _modules()}
    assert units <= set(FLOOR), f"give these a floor in FLOORS (and ARCHITECTURE.md): {sorted(units - set(FLOOR))}"


def test_imports_never_go_up_a_floor():
    mods = _modules()
    bad = []
    for mod, path in mods.items():
        src_unit = _unit(mod)
        for target, line, _, _ in _imports(path):
            dst_unit = _unit(_resolve(target, mods) or target)
            if dst_unit != src_unit and FLOOR[dst_unit] >= FLOOR[src_unit]:
                bad.append(f"{path.relative_to(SRC)}:{line} ({src_unit}, floor {FLOOR[src_unit]}) imports {target} "
                           f"({dst_unit}, floor {FLOOR[dst_unit]})")
    assert not bad, "imports that run from a lower floor to a higher one:\n" + "\n".join(bad)


def test_function_local_imports_only_guard_heavy_libraries():
    mods = _modules()
    heavy = {m for m, p in mods.items() if _top_level_libs(p) & HEAVY_LIBS}
    while True:  # a module that imports a heavy module at its top is heavy too
        more = {m for m, p in mods.items() if m not in heavy and any(
            not local and not typed and _resolve(t, mods) in heavy for t, _, local, typed in _imports(p))}
        if not more:
            break
        heavy |= more
    bad = []
    for mod, path in mods.items():
        if _unit(mod) in ("commands", "cli"):
            continue  # commands import lazily by design: `rephraser --help` must stay instant
        for target, line, local, _ in _imports(path):
            if local and _resolve(target, mods) not in heavy:
                bad.append(f"{path.relative_to(SRC)}:{line} imports {target} inside a function")
    assert not bad, "move these imports to the top of their module:\n" + "\n".join(bad)


def test_the_command_line_loads_no_heavy_library():
    probe = "import sys, rephraser.cli; print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in %r)))"
    heavy = sorted(HEAVY_LIBS | {"pyarrow", "datasets", "fsspec"})
    out = subprocess.run([sys.executable, "-c", probe % (heavy,)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"`rephraser --help` imports {out.stdout.strip()}"


def _graph(mods: dict[str, Path]) -> dict[str, set[str]]:
    """module -> the rephraser modules it imports, by any kind of import."""
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        for target, _, _, _ in _imports(path):
            dst = _resolve(target, mods)
            if dst is not None and dst != mod:
                graph[mod].add(dst)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each as one circle through them."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(v: str) -> None:  # recursion depth = the longest import chain (a few dozen modules)
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(component)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_circle(graph, c) for c in components]


def _circle(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """One path start -> ... -> start inside a component (breadth first, so the shortest from its first module)."""
    start = min(component)
    came: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & component):
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(came[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if w not in came:
                    came[w] = v
                    nxt.append(w)
        frontier = nxt
    return sorted(component)


def test_the_import_graph_has_no_circle():
    circles = _cycles(_graph(_modules()))
    assert not circles, "modules that import each other in a circle (break it with a small shared module or a " \
        "Protocol):\n" + "\n".join(" -> ".join(c) for c in circles)


def test_the_circle_finder_reports_the_modules_of_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    assert _cycles(graph) == [["a", "b", "c", "a"]]
    assert _cycles({"x": {"y"}, "y": set()}) == []


def test_only_the_command_line_ends_the_process_at_once():
    """`os._exit` skips every clean-up and ends whoever imported the library: only commands/ decides that
    (a second Ctrl-C, a native crash); library code raises or returns instead (generate/interrupts.py)."""
    bad = []
    for mod, path in _modules().items():
        if _unit(mod) == "commands":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            named = isinstance(node, ast.Attribute) and node.attr == "_exit" and \
                isinstance(node.value, ast.Name) and node.value.id == "os"
            imported = isinstance(node, ast.ImportFrom) and node.module == "os" and \
                any(a.name == "_exit" for a in node.names)
            if named or imported:
                bad.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert not bad, "os._exit outside commands/:\n" + "\n".join(bad)


def test_architecture_md_lists_the_floors_in_this_order():
    """ARCHITECTURE.md's floor table names the same packages, in the same order, as FLOORS above."""
    text = (SRC.parents[1] / "ARCHITECTURE.md").read_text(encoding="utf-8")
    documented = re.findall(r"^\| [\d½]+ `(\w+)/?`", text, flags=re.M)
    ground_end = FLOORS.index(("verify",))
    upper = [names[0] for names in FLOORS[ground_end + 1:] if names[0] != "cli"]
    assert documented == upper, f"ARCHITECTURE.md's floor table: {documented}; FLOORS: {upper}"
    ground_row = next(line for line in text.splitlines() if line.startswith("| ground |"))
    missing = [n[0] for n in FLOORS[1:ground_end + 1] if f"`{n[0]}" not in ground_row]
    assert not missing, f"ground-floor modules ARCHITECTURE.md does not name: {missing}"
