"""Find `rephraser evaluate` results and training curves under a folder that is not a grid (report/grid.py).

Discovered inputs (any depth; run-output subfolders data/, rejected/, dead_letter/, cache/ are skipped):
- results JSON of `rephraser evaluate`: an object with "macro" (and optionally "micro", "categories",
  "config_general"). Its cell is the path of its folder relative to the root with any `seed<N>`
  component removed; the seed comes from that component or config_general.seed. A mix ratio comes from
  config_general.mix_ratio or a path component `mix<R>` / `ratio<R>` (R in 0..1, or a percentage).
- training curves: *.jsonl whose first record has "step" and "loss" (train.py writes step, tokens,
  loss, heldout_loss, bpb); labelled by their folder path.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_SKIP_DIRS = {"data", "rejected", "dead_letter", "cache", "manifests", "stages", ".git"}  # stages/: grid internals, copied to cells/
_SEED = re.compile(r"^(?:seed|s)[-_]?(\d+)(?:-data\d+)?$")  # seed3, or seed3-data1 (grids with data seeds)
_RATIO = re.compile(r"(?:^|[-_])(?:mix|ratio)[-_]?(\d+(?:\.\d+)?)(?:$|[-_])")
MAX_CURVES = 24  # more lines than this make an unreadable plot


@dataclass
class ExperimentData:
    scores: list[dict[str, Any]] = field(default_factory=list)  # {cell, seed, macro, micro, ratio, series}
    curves: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.scores or self.curves)


def _walk(root: Path, suffix: str):
    for p in sorted(root.rglob(f"*{suffix}")):
        rel = p.relative_to(root).parts
        if not any(part in _SKIP_DIRS for part in rel[:-1]) and p.is_file():
            yield p


def _category_value(v: Any) -> Any:
    """categories may be {cat: score} or {cat: {"score": x, ...}}."""
    if isinstance(v, dict):
        for key in ("score", "mean", "macro", "value"):
            if isinstance(v.get(key), (int, float)):
                return v[key]
        return None
    return v


def _cell_of(rel_dir: tuple[str, ...], general: dict[str, Any]) -> dict[str, Any]:
    seed = general.get("seed")
    parts = []
    for part in rel_dir:
        m = _SEED.match(part)
        if m:
            seed = int(m.group(1))
        else:
            parts.append(part)
    cell = "/".join(parts) or "."
    ratio = general.get("mix_ratio")
    series = cell
    for part in parts:
        m = _RATIO.search(part)
        if m and ratio is None:
            ratio = float(m.group(1))
            series = "/".join(p for p in parts if p != part) or "run"
    if ratio is not None and float(ratio) > 1:
        ratio = float(ratio) / 100
    return {"cell": cell, "seed": seed, "ratio": ratio, "series": series}


def load_experiment(root: str | Path) -> ExperimentData:
    root = Path(root)
    data = ExperimentData()
    for f in _walk(root, ".json"):
        try:
            obj = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue  # not every JSON file is a results file; unreadable ones are not ours to judge
        if not isinstance(obj, dict) or not isinstance(obj.get("macro"), (int, float)):
            continue
        general = obj.get("config_general") if isinstance(obj.get("config_general"), dict) else {}
        entry = _cell_of(f.relative_to(root).parts[:-1], general)
        cats = obj.get("categories") if isinstance(obj.get("categories"), dict) else {}
        entry.update(generator=general.get("generator"), prompt=general.get("prompt"),
                     baseline=general.get("baseline"))
        entry.update(macro=float(obj["macro"]), micro=obj.get("micro"), file=str(f.relative_to(root)),
                     categories={k: _category_value(v) for k, v in cats.items()})
        data.scores.append(entry)
    for f in _walk(root, ".jsonl"):
        if len(data.curves) >= MAX_CURVES:
            break
        points = _read_curve(f)
        if points:
            label = "/".join(f.relative_to(root).parts[:-1]) or f.stem
            data.curves[label if label not in data.curves else f"{label}/{f.stem}"] = points
    return data


def _read_curve(f: Path) -> list[dict[str, Any]]:
    points: list[dict[str, Any]] = []
    try:
        with f.open(encoding="utf-8") as fh:
            for i, line in enumerate(fh):
                if not line.strip():
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if i == 0 and not (isinstance(rec, dict) and "step" in rec and "loss" in rec):
                    return []
                if isinstance(rec, dict):
                    points.append(rec)
    except (OSError, UnicodeDecodeError):
        return []
    return points
