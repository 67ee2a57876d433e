"""Measured figures as data: the bench/grid scripts write them, `render_docs.py` puts them into the docs.

A figure file is `bench/results/<name>.json`:

    {"name": "constrained_decoding",
     "measured": "2026-11-29",                       # when the measurement ran
     "how": "bench/bench_constrained.py --docs 40",  # the command that measured it
     "where": "shared 2-core machine, load 3-8",     # the conditions, as far as they matter
     "recorded": "script",                           # "script": written by the measuring script;
                                                     # "hand": a dated reading typed in (raw data lost)
     "note": "...",                                  # optional: anything a reader must know (shown)
     "data": {...},                                  # whatever the script measured (JSON)
     "views": {"compliance": {"rows": "by_prompt", "columns": [["prompt", "{prompt}"], ...]},
               "summary": {"text": "{ok}/{n} rows ok"}}}

A doc holds `<!-- generated: constrained_decoding/compliance -->` … `<!-- /generated -->`; the renderer
replaces what is between the markers with the view rendered from the file. A `rows` view is a markdown
table (one row per item of the list at that dotted path in `data`, each cell a `str.format` template over
the item, the figure's `data` and its top-level fields; headers are templates too), followed by a
provenance line; a `text` view is
one template (inline: keep it on the marker's line; `{recorded_as}` says "hand-recorded" or
"measured by `<how>`", since inline text has no provenance line). `None` renders as "–" whatever the format spec.
The measuring script owns its views, so a rerun that changes the data keeps the docs' layout.
"""

from __future__ import annotations

import json
import string
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
RECORDED = ("script", "hand")


class FigureError(Exception):
    """A figure file or a view that cannot be rendered: one line for the user."""


def write_figure(name: str, data: dict, views: dict, *, how: str, where: str, measured: str | None = None,
                 recorded: str = "script", note: str | None = None, results: Path = RESULTS) -> Path:
    """Write bench/results/<name>.json (whole or not at all) and say how to refresh the docs."""
    import datetime

    from rephraser.atomic import atomic_write_text

    fig = {"name": name, "measured": measured or datetime.date.today().isoformat(), "how": how, "where": where,
           "recorded": recorded, **({"note": note} if note else {}), "data": data, "views": views}
    check_figure(fig, name)
    for view in views:  # fail now, not when someone renders the docs
        render_view(fig, view)
    path = results / f"{name}.json"
    atomic_write_text(path, json.dumps(fig, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {path}; `python bench/render_docs.py` puts it into the docs", file=sys.stderr)
    return path


def check_figure(fig: Any, name: str) -> None:
    if not isinstance(fig, dict):
        raise FigureError(f"figure {name}: not a JSON object")
    missing = [k for k in ("name", "measured", "how", "where", "recorded", "data", "views") if k not in fig]
    if missing:
        raise FigureError(f"figure {name}: missing {', '.join(missing)}")
    if fig["name"] != name:
        raise FigureError(f"figure {name}: its file says name {fig['name']!r}")
    if fig["recorded"] not in RECORDED:
        raise FigureError(f"figure {name}: recorded must be one of {', '.join(RECORDED)}, not {fig['recorded']!r}")


def load_figure(name: str, results: Path = RESULTS) -> dict:
    path = results / f"{name}.json"
    if not path.is_file():
        raise FigureError(f"no figure {name!r} (expected {path.relative_to(path.parents[2])})")
    try:
        fig = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise FigureError(f"{path.name}: not valid JSON ({e})") from None
    check_figure(fig, name)
    return fig


class _Formatter(string.Formatter):
    def format_field(self, value: Any, format_spec: str) -> str:
        if value is None:  # a figure that was not measured for this row
            return "–"
        return super().format_field(value, format_spec)


def _fmt(template: str, scope: dict, where: str) -> str:
    try:
        return _Formatter().vformat(template, (), scope)
    except (KeyError, IndexError, ValueError, TypeError, AttributeError) as e:
        raise FigureError(f"{where}: template {template!r} fails: {type(e).__name__} {e}") from None


def _at(data: dict, path: str, where: str) -> list:
    node: Any = data
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            raise FigureError(f"{where}: data has no {path!r}")
        node = node[part]
    if not isinstance(node, list):
        raise FigureError(f"{where}: {path!r} is not a list")
    return node


def provenance(fig: dict) -> str:
    src = f"bench/results/{fig['name']}.json"
    note = f" {fig['note'][:1].upper()}{fig['note'][1:].rstrip('.')}." if fig.get("note") else ""
    if fig["recorded"] == "hand":
        return (f"<sub>Hand-recorded reading of {fig['measured']} (`{fig['how']}`; {fig['where']}); the raw "
                f"measurement was not kept.{note} Data: `{src}`.</sub>")
    return f"<sub>Generated from `{src}`: measured {fig['measured']} by `{fig['how']}` ({fig['where']}).{note}</sub>"


def render_view(fig: dict, view: str) -> str:
    """The markdown of one view: a table + provenance line, or a text template."""
    where = f"{fig['name']}/{view}"
    spec = fig["views"].get(view)
    if spec is None:
        raise FigureError(f"figure {fig['name']} has no view {view!r} (it has: {', '.join(fig['views']) or 'none'})")
    top = {k: v for k, v in fig.items() if k not in ("data", "views")}
    # for inline text, which has no provenance line: "hand-recorded" or "measured by `<how>`"
    top["recorded_as"] = "hand-recorded" if fig["recorded"] == "hand" else f"measured by `{fig['how']}`"
    scope = {**top, **fig["data"]}
    if "text" in spec:
        return _fmt(spec["text"], scope, where)
    if "rows" not in spec or "columns" not in spec:
        raise FigureError(f"{where}: a view has either text or rows + columns")
    heads = [_fmt(h, scope, where) for h, _ in spec["columns"]]  # a header may name a figure: "{seeds} seeds"
    lines = ["| " + " | ".join(heads) + " |", "|" + "---|" * len(heads)]
    for item in _at(fig["data"], spec["rows"], where):
        row_scope = {**scope, **item} if isinstance(item, dict) else {**scope, "item": item}
        lines.append("| " + " | ".join(_fmt(t, row_scope, where) for _, t in spec["columns"]) + " |")
    if spec.get("provenance", True):
        lines += ["", provenance(fig)]
    return "\n".join(lines)
