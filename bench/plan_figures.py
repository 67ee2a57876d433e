"""The example grids' `--dry-run` plans as figure files: what docs/experiments.md quotes about them.

    .venv/bin/python bench/plan_figures.py      # writes bench/results/plan_<grid>.json, then render_docs.py

Each figure is exactly what `rephraser experiment run examples/<grid>.yaml --dry-run [--cluster NxG]`
prints for a grid with nothing done yet (an empty output folder, so no finished stage of a local run
changes the estimate): cells, training runs, planned tokens, the one-after-another time, GPU-hours
split by stage kind, and the cluster projections. These are arithmetic on assumed throughputs (the
study's H100 table, the CPU defaults in experiments/estimate.py), not measurements; the views say so.
tests/docs/test_generated_figures.py recomputes them, so a change to the estimates fails until this
script is rerun.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from figures import write_figure

ROOT = Path(__file__).resolve().parent.parent
GRIDS = {  # grid -> clusters to project on (NODESxGPUS)
    "finephrase": ["8x8", "64x8"],
    "mini_ablation": [],
}
VIEWS = {
    "finephrase": {"summary": {"text": (
        "{cells} cells, {training_runs} training runs ({runs_text}). `--dry-run --cluster 8x8` projects "
        "**{days_8x8:.1f} days on 8 nodes x 8 H100** ({gpu_kh:.1f}k GPU-hours ≈ ${cost_k:.0f}k at "
        "${price_per_hour}/h: {gen_kh:.1f}k for {gen_tokens_b:.0f}B generated tokens at the study's throughputs, "
        "{train_kh:.1f}k for {train_tokens_t:.1f}T training tokens at 40% MFU), {days_64x8:.1f} days on 64 x 8")}},
    "mini_ablation": {"summary": {"text": (
        "{cells} cells ({runs_text}); its `--dry-run` estimate is ≈{minutes:.0f} min one stage after another")}},
}


def compute(grid: str) -> dict:
    """The dry-run figures of examples/<grid>.yaml, as the command computes them."""
    from rephraser.config import load_yaml
    from rephraser.experiments.cells import expand
    from rephraser.experiments.config import ExperimentConfig
    from rephraser.experiments.estimate import estimate
    from rephraser.experiments.jobs import plan_jobs
    from rephraser.experiments.plan_summary import summarize
    from rephraser.experiments.projection import parse_cluster, project

    cfg = load_yaml(ROOT / "examples" / f"{grid}.yaml", ExperimentConfig)
    cells = expand(cfg)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "never-run"
        est = estimate(cfg, cells, out)
        s = summarize(cfg, cells, est)
        for cluster in GRIDS[grid]:
            nodes, gpus = parse_cluster(cluster)
            s[f"days_{cluster}"] = project(plan_jobs(cfg, cells, out, out / "experiment.yaml"), est, nodes, gpus).wall_s / 86400
    by_kind = s["device_hours_by_kind"]
    s.update(minutes=(s["seconds"] or 0) / 60, gpu_kh=s["device_hours"] / 1e3, cost_k=s["cost"] / 1e3,
             gen_kh=by_kind.get("generate", 0.0) / 1e3, train_kh=by_kind.get("train", 0.0) / 1e3,
             gen_tokens_b=s["generated_tokens"] / 1e9, train_tokens_t=s["training_tokens"] / 1e12)
    return s


ASSUMPTION_VIEWS = {"cpu": {"text": (
    "llama.cpp SmolLM2-135M {smollm2:.0f} tok/s, Gemma-3-270M {gemma3:.0f} tok/s (assumed from its size), "
    "tiny-1m training {train_tiny:,.0f} tok/s, evaluation {eval_tiny} s/item")}}


def assumptions() -> dict:
    """The CPU throughputs the estimates assume when a grid has measured nothing yet (code constants)."""
    from rephraser.engines.llamacpp import CPU_TOK_S
    from rephraser.experiments.estimate import CPU_EVAL_S_PER_ITEM, CPU_TRAIN_TOK_S

    return {"smollm2": CPU_TOK_S["smollm2-135m"], "gemma3": CPU_TOK_S["gemma3-270m"],
            "train_tiny": CPU_TRAIN_TOK_S["tiny-1m"], "eval_tiny": CPU_EVAL_S_PER_ITEM["tiny-1m"]}


def main() -> None:
    if not sys.argv[1:] or "assumptions" in sys.argv[1:]:
        write_figure("plan_assumptions", assumptions(), ASSUMPTION_VIEWS, how="bench/plan_figures.py assumptions",
                     where="constants in engines/llamacpp.py and experiments/estimate.py")
    for grid in [g for g in sys.argv[1:] if g in GRIDS] or ([] if sys.argv[1:] else GRIDS):
        clusters = GRIDS[grid]
        how = f"rephraser experiment run examples/{grid}.yaml --dry-run" + (
            f" --cluster {' / '.join(clusters)}" if clusters else "")
        write_figure(f"plan_{grid}", compute(grid), VIEWS[grid], how=how,
                     where="arithmetic on assumed throughputs (experiments/estimate.py), not a measurement")


if __name__ == "__main__":
    main()
