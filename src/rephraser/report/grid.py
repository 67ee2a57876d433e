"""An experiment folder read for the report: one `GridReport` whatever produced the folder.

- A grid folder (`rephraser experiment run`) is read from what the grid wrote: `results.json` (per-seed
  rows and per-cell summaries with gaps, SE, gap/SE and Cohen's d against the baseline),
  `experiment.yaml`, the per-cell view `cells/<cell>/seed<N>/` (results + training curve) and the stage
  markers (which generate stage's rows a cell trained on).
- Any other folder of `rephraser evaluate` results is discovered (report/experiment.py); it has no
  baseline, so no gaps.

Every cell gets one colour, used by the table and by every plot. The report reads files only: it
never imports the grid code.
"""

from __future__ import annotations

import json
import re
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rephraser.report.experiment import ExperimentData, load_experiment

# One colour per cell: baselines in greys, other cells in a qualitative palette (matplotlib's tab10, then
# the light half of tab20), repeated with a different marker past 20 cells.
BASELINE_COLOURS = ("#3a3a3a", "#7f7f7f", "#a6a6a6", "#5c5c5c")
CELL_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf",
                "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94", "#f7b6d2", "#dbdb8d", "#9edae5")
MARKERS = ("o", "s", "D", "^", "v", "P")
_SIZE = re.compile(r"(?i)(?<![a-z0-9.])(\d+(?:\.\d+)?)\s*([mb])(?![a-z])")


@dataclass
class SeedRun:
    seed: Any
    macro: float | None
    micro: float | None = None
    heldout_bpb: float | None = None  # the grid's common held-out split
    mix_heldout_bpb: float | None = None  # the cell's own mixture split (training's held-out)
    categories: dict[str, float] = field(default_factory=dict)
    parameters: int | None = None
    curve: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class CellReport:
    name: str
    kind: str = "synthetic"  # synthetic | baseline
    prompt: str | None = None
    generator: str | None = None
    generator_model: str | None = None
    ratio: float | None = None
    seeds: list[SeedRun] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)  # results.json "cells" entry (gaps vs the baseline)
    generate_dirs: list[Path] = field(default_factory=list)  # run folders of the rows this cell trained on
    classifier_scores: dict[str, float] = field(default_factory=dict)
    colour: str = "#1f77b4"
    marker: str = "o"
    is_baseline: bool = False

    @property
    def series(self) -> str:
        """The cell without its ratio: cells of one series differ only in synthetic share."""
        head, _, tail = self.name.rpartition("/")
        return head if head and re.fullmatch(r"(mix|ratio)[-_]?\d+(\.\d+)?", tail) else self.name

    @property
    def generator_size(self) -> float | None:
        return model_size(self.generator_model or self.generator or "")

    @property
    def parameters(self) -> int | None:
        vals = {s.parameters for s in self.seeds if s.parameters}
        return vals.pop() if len(vals) == 1 else None

    def values(self, metric: str) -> list[float]:
        return [float(v) for s in self.seeds if isinstance(v := getattr(s, metric), (int, float))]

    def mean_std(self, metric: str) -> tuple[float | None, float | None]:
        s = self.summary
        if f"{metric}_mean" in s:
            return s.get(f"{metric}_mean"), s.get(f"{metric}_std")
        vals = self.values(metric)
        if not vals:
            return None, None
        return statistics.fmean(vals), (statistics.stdev(vals) if len(vals) > 1 else None)


@dataclass
class GridReport:
    root: Path
    name: str
    cells: list[CellReport]
    baseline: str | None = None
    metric: str = "prob_norm_token"
    heldout: str = ""  # what the common held-out split is, in words
    classifier_correlation: dict[str, Any] | None = None
    from_grid: bool = False

    def cell(self, name: str | None) -> CellReport | None:
        return next((c for c in self.cells if c.name == name), None)

    @property
    def synthetic(self) -> list[CellReport]:
        return [c for c in self.cells if not c.is_baseline]

    @property
    def ratios(self) -> list[float]:
        return sorted({c.ratio for c in self.synthetic if c.ratio is not None})

    @property
    def generator_sizes(self) -> list[float]:
        return sorted({s for c in self.synthetic if (s := c.generator_size) is not None})

    @property
    def student_sizes(self) -> list[int]:
        return sorted({p for c in self.cells if (p := c.parameters) is not None})

    def __bool__(self) -> bool:
        return bool(self.cells)


def model_size(name: str) -> float | None:
    """Parameters named in a model name or alias: smollm2-135m -> 1.35e8, SmolLM2-1.7B-Instruct -> 1.7e9."""
    m = _SIZE.search(name)
    if not m:
        return None
    return float(m.group(1)) * (1e6 if m.group(2).lower() == "m" else 1e9)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _read_curve(path: Path) -> list[dict[str, Any]]:
    points = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and "step" in rec:
            points.append(rec)
    return points


def _colour(cells: list[CellReport]) -> None:
    b = s = 0
    for c in cells:
        if c.is_baseline:
            c.colour, c.marker = BASELINE_COLOURS[b % len(BASELINE_COLOURS)], "s"
            b += 1
        else:
            c.colour = CELL_COLOURS[s % len(CELL_COLOURS)]
            c.marker = MARKERS[(s // len(CELL_COLOURS)) % len(MARKERS)]
            s += 1


def load_grid_report(root: str | Path) -> GridReport:
    """The report view of an experiment folder: a grid's own results, or discovered evaluation results."""
    root = Path(root)
    doc = _read_json(root / "results.json")
    if isinstance(doc, dict) and isinstance(doc.get("cells"), list) and isinstance(doc.get("rows"), list):
        report = _from_grid(root, doc)
    else:
        report = _from_discovered(root, load_experiment(root))
    _colour(report.cells)
    return report


# ---- a grid's folder -----------------------------------------------------------------------------------
def _from_grid(root: Path, doc: dict[str, Any]) -> GridReport:
    cfg = _read_yaml(root / "experiment.yaml")
    generators = cfg.get("generators") or {}
    cells: list[CellReport] = []
    for s in doc["cells"]:
        name = str(s["cell"])
        gen = s.get("generator")
        model = ((generators.get(gen) or {}).get("engine") or {}).get("model") if gen else None
        cell = CellReport(name=name, kind=str(s.get("kind") or "synthetic"), prompt=s.get("prompt"), generator=gen,
                          generator_model=model, ratio=s.get("ratio"), summary=s,
                          is_baseline=bool(s.get("is_baseline")) or s.get("kind") == "baseline")
        views = _cell_views(root, name)
        for r in (r for r in doc["rows"] if r.get("cell") == name):
            # the run's folder: seed<N>, or seed<N>-data<M> in a grid with explicit data seeds
            view = views.get(f"seed{r.get('seed')}-data{r.get('data_seed')}") or views.get(f"seed{r.get('seed')}", {})
            cell.seeds.append(SeedRun(
                seed=r.get("seed"), macro=r.get("macro"), micro=r.get("micro"), heldout_bpb=r.get("heldout_bpb"),
                mix_heldout_bpb=r.get("mix_heldout_bpb"), parameters=r.get("parameters"),
                categories={k[4:]: v for k, v in r.items() if k.startswith("cat_") and isinstance(v, (int, float))},
                curve=view.get("curve", [])))
        cell.generate_dirs = _generate_dirs(root, views)
        cells.append(cell)
    corr = doc.get("classifier_correlation")
    if isinstance(corr, dict):
        for cname, entry in (corr.get("classifiers") or {}).items():
            for p in entry.get("points") or []:
                c = next((x for x in cells if x.name == p.get("cell")), None)
                if c is not None and isinstance(p.get("score"), (int, float)):
                    c.classifier_scores[cname] = p["score"]
    return GridReport(root=root, name=str(doc.get("experiment") or cfg.get("name") or root.name), cells=cells,
                      baseline=doc.get("baseline"), metric=str(doc.get("metric") or "prob_norm_token"),
                      heldout=_heldout_words(cfg), classifier_correlation=corr if isinstance(corr, dict) else None,
                      from_grid=True)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _cell_views(root: Path, cell: str) -> dict[str, dict[str, Any]]:
    """run folder name -> {"stages": {...}, "curve": [...]}, from the per-cell view the grid writes
    (cells/<cell>/seed<N>[-data<M>]/)."""
    views: dict[str, dict[str, Any]] = {}
    for d in sorted((root / "cells" / cell).glob("seed*")):
        res = _read_json(d / "results.json")
        if isinstance(res, dict):
            views[d.name] = {"stages": res.get("stages") or {}, "curve": _read_curve(d / "curve.jsonl")}
    return views


def _generate_dirs(root: Path, views: dict[str, dict[str, Any]]) -> list[Path]:
    """The generate stages a cell's mixture took rewritten rows from (its mix stage marker names them)."""
    mix_keys = {v["stages"].get("mix") for v in views.values() if v["stages"].get("mix")}
    dirs: list[Path] = []
    for key in sorted(mix_keys):
        marker = _read_json(root / "stages" / "mix" / key / "stage.json") or {}
        for kind, dep in marker.get("deps") or []:
            d = root / "stages" / "generate" / dep
            if kind == "generate" and d.is_dir() and d not in dirs:
                dirs.append(d)
    return dirs


def _heldout_words(cfg: dict[str, Any]) -> str:
    ev = cfg.get("eval") or {}
    sources = ", ".join(cfg.get("sources") or {}) or "each source"
    frac, docs = ev.get("heldout_fraction", 0.05), ev.get("heldout_docs", 200)
    first = f"the first {docs} documents of " if docs else ""
    return (f"{first}the held-out split of {sources} ({100 * float(frac):.0f}% of the source, chosen by a hash of "
            "each document's text; never rewritten, never in any mixture): the same documents for every cell, "
            "so these values compare across cells")


# ---- discovered evaluation results ---------------------------------------------------------------------
def _from_discovered(root: Path, exp: ExperimentData) -> GridReport:
    by_cell: dict[str, CellReport] = {}
    for s in exp.scores:
        c = by_cell.setdefault(s["cell"], CellReport(
            name=s["cell"], prompt=s.get("prompt"), generator=s.get("generator"), ratio=s.get("ratio"),
            kind="baseline" if s.get("baseline") else "synthetic", is_baseline=bool(s.get("baseline"))))
        c.seeds.append(SeedRun(seed=s.get("seed"), macro=s.get("macro"), micro=s.get("micro"),
                               categories={k: v for k, v in (s.get("categories") or {}).items()
                                           if isinstance(v, (int, float))}))
    for label, points in exp.curves.items():
        head, _, tail = label.rpartition("/")
        cell = by_cell.get(head if tail.startswith("seed") else label)
        if cell is not None:
            run = next((r for r in cell.seeds if f"seed{r.seed}" == tail), None)
            if run is not None:
                run.curve = points
    return GridReport(root=root, name=root.resolve().name, cells=list(by_cell.values()))
