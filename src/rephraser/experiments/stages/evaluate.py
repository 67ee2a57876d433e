"""evaluate: a trained proxy on the benchmark suite, and its bits-per-byte on every source's held-out
documents."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rephraser.evaluate.bpb import bits_per_byte
from rephraser.evaluate.scoring_models import load_scoring_model, resolve_dtype
from rephraser.evaluate.suite import PROFILES, resolve_tasks, run_suite, write_results
from rephraser.experiments.config import EvalSpec, ExperimentConfig
from rephraser.experiments.stages.base import (
    KINDS,
    SMALL_STAGE_S,
    JsonObject,
    Resources,
    RunContext,
    Stage,
    StageEstimate,
    StageOutputs,
    StageSpec,
    markers_of_kind,
)
from rephraser.experiments.stages.generate_figures import Number
from rephraser.experiments.stages.source import SourceStage
from rephraser.experiments.stages.train import TrainStage

# Evaluation seconds per scored item: on 2 CPU cores per preset, and on one GPU.
CPU_EVAL_S_PER_ITEM = {"tiny-1m": 0.02, "mini-8m": 0.08, "small-30m": 0.3}
GPU_EVAL_S_PER_ITEM = 0.05


class EvaluateSpec(StageSpec):
    eval: JsonObject  # EvalSpec as JSON, without the device and with options at their defaults left out


@dataclass
class EvaluateMeta:
    eval: EvalSpec


class EvaluateOutputs(StageOutputs):
    macro: Number | None = None
    micro: Number | None = None
    items: int | None = None


@KINDS.register
class EvaluateStage(Stage[EvaluateSpec, EvaluateMeta]):
    kind = "evaluate"
    rank = 6
    Outputs = EvaluateOutputs

    def run(self, ctx: RunContext) -> EvaluateOutputs:
        ev = self.meta.eval
        model = load_scoring_model(self.dep(TrainStage).dir(ctx.out) / "final", kind="auto", device=ev.device,
                                   dtype=resolve_dtype(ev.dtype, ev.profile, ev.device))
        results, details = run_suite(model, profile=ev.profile, tasks=ev.tasks, seed=ev.seed,
                                     num_fewshot=ev.num_fewshot, max_items=ev.max_items, definitions=ev.definitions,
                                     prob_variant=ev.prob_variant, datasets=ev.datasets,
                                     truncate_fewshot=ev.truncate_fewshot)
        heldout = {}
        for src in self.deps_of(SourceStage):
            texts = src.texts(ctx.out, "heldout", ev.heldout_docs)
            heldout[src.key] = bits_per_byte(model, texts) if texts else None
        # Wrapped (no top-level "macro"), so `rephraser report` counts only the per-cell copies in cells/.
        evaluation = {"suite": results, "heldout_bpb": heldout}
        write_results(evaluation, details, ctx.dir / "evaluation.json")
        macro = results.get("macro")
        ctx.log(f"evaluate: macro {macro:.3g}" if macro is not None else "evaluate: no task could be scored")
        items = sum(int(r.get("n_items", 0)) for r in results["results"].values())
        return EvaluateOutputs(macro=macro, micro=results.get("micro"), items=items)

    def resources(self, cfg: ExperimentConfig) -> Resources:
        return Resources(gpus=1 if self.dep(TrainStage).spec.device == "cuda" else 0)

    def estimate(self, cfg: ExperimentConfig, out: Path) -> StageEstimate:
        ev = self.meta.eval
        items = len(resolve_tasks(ev.tasks)) * (ev.max_items or PROFILES[ev.profile])
        trained = self.dep(TrainStage).meta.train
        measured = [m.seconds / max(1, EvaluateOutputs.model_validate(m.outputs).items or items)
                    for m in markers_of_kind(out, "evaluate")]
        per_item: float | None
        if measured:
            per_item, basis = measured[-1], "measured in this grid"
        elif trained.device == "cuda":
            per_item, basis = GPU_EVAL_S_PER_ITEM, "GPU assumption (3-shot cloze, batched)"
        else:
            per_item, basis = CPU_EVAL_S_PER_ITEM.get(trained.preset), "CPU default (2 cores)"
        s = StageEstimate("evaluate", self.key, f"{items} items", basis=basis)
        if per_item is not None:
            s.seconds = items * per_item + SMALL_STAGE_S
        else:
            s.basis = f"no CPU measurement for preset {trained.preset}"
        return s
