"""`--dry-run`: planned tokens and estimated time/cost of the stages a grid still has to run.

Throughputs are taken, in order of preference, from (1) finished stages of this grid (generation
stats.json tok/s, training tok/s, evaluation seconds per item), (2) a generator's `tok_s` in the
YAML, (3) what the engine's spec assumes (the study's H100 table for vLLM/OpenAI engines, CPU defaults
for llama.cpp), (4) the CPU defaults below for training and evaluation, measured on a 2-core machine
with nothing else running. Every estimate says which it used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rephraser.experiments.cells import Cell, unique_stages
from rephraser.experiments.config import ExperimentConfig
from rephraser.experiments.stages import is_done
from rephraser.experiments.stages.base import StageEstimate as StageEstimate
from rephraser.experiments.stages.evaluate import CPU_EVAL_S_PER_ITEM as CPU_EVAL_S_PER_ITEM
from rephraser.experiments.stages.train import CPU_TRAIN_TOK_S as CPU_TRAIN_TOK_S

# Each stage kind estimates itself (stages/<kind>.py: `estimate`); the CPU figures are re-exported
# here, where the benches read them.


@dataclass
class Estimate:
    stages: list[StageEstimate] = field(default_factory=list)
    done: int = 0
    notes: list[str] = field(default_factory=list)

    def total_seconds(self) -> float | None:
        vals = [s.seconds for s in self.stages if s.seconds is not None]
        return sum(vals) if len(vals) == len(self.stages) else None


def estimate(cfg: ExperimentConfig, cells: list[Cell], out: Path) -> Estimate:
    est = Estimate()
    for stage in unique_stages(cells):
        if is_done(stage, out):
            est.done += 1
            continue
        est.stages.append(stage.estimate(cfg, out))
    return est
