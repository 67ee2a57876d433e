"""Pins of what each executor runs for one small grid, byte for byte: the Slurm executor's job scripts,
submit.sh and plan.json; the Ray executor's tasks (name, resources, retries, commands, log, upstream) and
state.json; and the text both print. The expected files in tests/experiments/pins/ were written once from
the code before the executors shared a protocol; a refactor of the executor seam must leave them equal.

Nothing runs: Slurm is not called (--no-submit) and Ray is a recording stand-in that reports every task
done. The grid's paths are relative to its folder, so stage keys do not depend on the temporary folder;
that folder is written as <TMP> in the pins.
"""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path

import yaml

from helpers import ECHO_PROMPT, run_cli

PINS = Path(__file__).parent / "pins"


def small_grid(folder: Path) -> Path:
    """Two cells (baseline + one prompt), a 2-shard generation, CPU training as a 2-rank torchrun job."""
    with open(folder / "corpus.jsonl", "w", encoding="utf-8") as f:
        for i in range(12):
            f.write(json.dumps({"id": f"doc-{i}", "text": f"Document {i} says {i * 3} apples."}) + "\n")
    cfg = {
        "name": "pin",
        "output": "out",
        "prompts": [ECHO_PROMPT],
        "generators": {"fake": {"engine": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m"}}},
        "sources": {"docs": {"source": {"path": "corpus.jsonl"}, "rephrase_docs": 8}},
        "generation": {"sampling": {"max_tokens": 16}, "shards": 2},
        "mix": {"ratios": [0.5], "tokens": 4000},
        "seeds": [0],
        "tokenizer": {"vocab_size": 300},
        "train": {"preset": "tiny-1m", "steps": 2, "batch_size": 4, "micro_batch_size": 2, "seq_len": 32},
        "eval": {"tasks": ["arc_easy"], "max_items": 2, "num_fewshot": 0},
        "cluster": {"gpus_per_node": 0, "retries": 1, "cpu_train_ranks": 2, "python": "python3",
                    "slurm": {"rephraser": "rephraser", "setup": ["source venv/bin/activate"]}},
    }
    grid = folder / "grid.yaml"
    grid.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return grid


def normalized(text: str, tmp: Path) -> str:
    return text.replace(str(tmp.resolve()), "<TMP>").replace(str(tmp), "<TMP>")


def check_pin(name: str, text: str) -> None:
    expected = (PINS / name).read_text(encoding="utf-8")
    assert text == expected, f"{name} changed: what an executor runs must stay byte-identical"


def test_slurm_executor_scripts_are_pinned(tmp_path, monkeypatch, capsys):
    grid = small_grid(tmp_path)
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(monkeypatch, capsys, "experiment", "run", str(grid), "--executor", "slurm", "--no-submit")
    assert code == 0, err
    sdir = tmp_path / "out" / "slurm"
    files = sorted(p for p in sdir.iterdir() if p.is_file())
    dump = "".join(f"==> {p.name} <==\n{p.read_text(encoding='utf-8')}" for p in files)
    check_pin("slurm_small_grid.txt", normalized(f"==> stdout <==\n{out}" + dump, tmp_path))


class _RecordingRay(types.ModuleType):
    """What run_on_ray asks of Ray, recorded; every task "succeeds" at once (nothing runs)."""

    def __init__(self) -> None:
        super().__init__("ray")
        self.tasks: list[dict] = []
        self.initialized = False

    def is_initialized(self) -> bool:
        return self.initialized

    def init(self, **kwargs) -> None:
        self.initialized = True
        self.init_args = kwargs

    def shutdown(self) -> None:
        self.initialized = False

    def remote(self, fn):
        ray = self

        class Options:
            def __init__(self, opts: dict) -> None:
                self.opts = opts

            def remote(self, *args):
                ref = f"ref{len(ray.tasks)}:{self.opts['name']}"
                ray.tasks.append({"fn": fn.__name__, **{k: v for k, v in self.opts.items() if k != "retry_exceptions"},
                                  "retry_exceptions": [e.__name__ for e in self.opts.get("retry_exceptions", [])],
                                  "commands": args[0], "log": args[1], "upstream": list(args[2:]), "ref": ref})
                return ref

        class Task:
            def options(self, **opts):
                return Options(opts)

        return Task()

    def wait(self, refs, num_returns=1, timeout=None):
        return refs[:num_returns], refs[num_returns:]

    def get(self, ref):
        return None


def test_ray_executor_tasks_are_pinned(tmp_path, monkeypatch, capsys):
    grid = small_grid(tmp_path)
    cfg = yaml.safe_load(grid.read_text())
    cfg["cluster"]["ray"] = {"address": "local"}
    grid.write_text(yaml.safe_dump(cfg))
    ray = _RecordingRay()
    monkeypatch.setitem(sys.modules, "ray", ray)
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(monkeypatch, capsys, "experiment", "run", str(grid), "--executor", "ray")
    assert code == 0, err
    assert ray.init_args == {"address": None, "include_dashboard": False, "log_to_driver": False}
    assert not ray.initialized  # the executor shut down the Ray it started
    state = (tmp_path / "out" / "ray" / "state.json").read_text(encoding="utf-8")
    dump = f"==> stdout <==\n{out}==> tasks <==\n{json.dumps(ray.tasks, indent=1)}\n==> state.json <==\n{state}"
    check_pin("ray_small_grid.txt", normalized(dump, tmp_path))
