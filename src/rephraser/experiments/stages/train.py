"""train: one proxy model per cell and run (training seed, data seed), on the cell's tokenized mixture.

A decay branch starts from its trunk run's checkpoint at `decay.at_step` and trains only the last steps."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from rephraser.cost import SECONDS_PER_HOUR
from rephraser.errors import RephraserError
from rephraser.experiments.config import ExperimentConfig
from rephraser.experiments.stages.base import (
    KINDS,
    JsonModel,
    JsonObject,
    Resources,
    RunContext,
    Stage,
    StageEstimate,
    StageOutputs,
    StageSpec,
    markers_of_kind,
    read_marker,
)
from rephraser.experiments.stages.generate_figures import Number
from rephraser.experiments.stages.tokenize import TokenizeStage
from rephraser.train.trainer import TrainConfig, train

# Proxy training tok/s on 2 CPU cores (fp32).
CPU_TRAIN_TOK_S = {"tiny-1m": 15000.0, "mini-8m": 2500.0, "small-30m": 500.0}  # tiny-1m measured ~23k under load
# GPU training: 6 * parameters * tokens FLOPs at 40% of an H100's dense bf16 peak (989 TFLOP/s).
GPU_PEAK_FLOPS, GPU_MFU = 989e12, 0.4
_DEFAULT_PRESET = TrainConfig.model_fields["preset"].default  # what older stage markers left unset


class DecayPoint(JsonModel):
    at_step: int
    steps: int


class TrainSpec(StageSpec):
    OMIT_IF_NONE = frozenset({"data_seed", "decay"})
    train: JsonObject  # the grid's (and the student's) TrainConfig fields, as the user gave them
    seed: int
    data_seed: int | None = None  # only with explicit data seeds, so default grids keep their keys
    decay: DecayPoint | None = None

    @property
    def device(self) -> str | None:
        d = self.train.get("device")
        return d if isinstance(d, str) else None


@dataclass
class TrainMeta:
    student: str | None
    train: TrainConfig  # the spec's fields validated once, with the seeds
    keep_steps: list[int] = field(default_factory=list)  # checkpoints decay branches start from


class TrainOutputs(StageOutputs):
    """evaluate/train.py's summary.json (field order = its order)."""

    preset: str | None = None
    parameters: int | None = None
    steps: int | None = None
    tokens: int | None = None
    seq_len: int | None = None
    batch_size: int | None = None
    tokens_per_step: int | None = None
    final_heldout_loss: Number | None = None
    final_bpb: Number | None = None
    heldout_tokens_scored: int | None = None
    device: str | None = None
    world_size: int | None = None
    parallel: str | None = None
    micro_batch_size: int | None = None
    accumulation_steps: int | None = None
    threads: int | None = None
    seconds_this_session: Number | None = None
    tok_s_this_session: Number | None = None
    tok_s_per_device: Number | None = None
    flops_per_token: Number | None = None
    mfu: Number | None = None
    resumed_from_step: int | None = None
    restarts: int | None = None
    checkpoint: str | None = None


@KINDS.register
class TrainStage(Stage[TrainSpec, TrainMeta]):
    kind = "train"
    rank = 5
    Outputs = TrainOutputs

    def outputs(self, out: Path) -> TrainOutputs | None:
        m = read_marker(self, out)
        return None if m is None else TrainOutputs.model_validate(m.outputs)

    def train_config(self, out: Path) -> TrainConfig:
        """What `rephraser train` runs for this stage (under torchrun or not)."""
        extra: dict[str, str | list[int]] = {"data": str(self.dep(TokenizeStage).dir(out)),
                                             "output": str(self.dir(out))}
        if self.spec.decay is not None:  # a decay branch starts from its trunk's checkpoint
            trunk = self.dep(TrainStage)
            step = self.spec.decay.at_step
            ckpt = trunk.dir(out) / "checkpoints" / f"step-{step:08d}"
            if not ckpt.is_dir():
                raise RephraserError(f"decay: the trunk run {trunk.key} has no checkpoint at step {step} (it "
                                     f"finished before the decay rule existed? delete {trunk.dir(out)} to train it again)")
            extra["init_from"] = str(ckpt)
        if self.meta.keep_steps:
            extra["keep_steps"] = sorted(set(self.meta.keep_steps))
        return self.meta.train.model_copy(update=extra)

    def run(self, ctx: RunContext) -> TrainOutputs:
        summary_file = ctx.dir / "summary.json"
        if summary_file.is_file():  # finished before the marker was written (or by torchrun): keep it
            return TrainOutputs.model_validate(json.loads(summary_file.read_text(encoding="utf-8")))
        tcfg = self.train_config(ctx.out)
        ctx.log(f"train: {tcfg.preset}, seed {tcfg.seed}, data seed {tcfg.data_seed} -> {ctx.dir}")

        def progress(point: dict[str, float], total: int) -> None:  # a long stage says how far it is
            held = f", held-out bpb {point['bpb']:.4f}" if point.get("bpb") is not None else ""
            ctx.log(f"train: step {point['step']}/{total}, loss {point['loss']:.4f}, {point['tok_s']:,.0f} tok/s{held}")

        return TrainOutputs.model_validate(train(tcfg, progress=progress))

    def world(self, cfg: ExperimentConfig) -> tuple[int, int, int]:
        """(nodes, ranks per node, GPUs per node): CUDA training uses every GPU of `train_nodes` nodes (the
        student's own count first); CPU training runs `cpu_train_ranks` gloo ranks."""
        student = (cfg.students or {}).get(self.meta.student or "")
        if self.spec.device == "cuda":
            nodes = (student.train_nodes if student else None) or cfg.cluster.train_nodes
            return nodes, cfg.cluster.gpus_per_node, cfg.cluster.gpus_per_node
        return 1, cfg.cluster.cpu_train_ranks, 0

    def resources(self, cfg: ExperimentConfig) -> Resources:
        nodes, ranks, gpus = self.world(cfg)
        return Resources(nodes=nodes, ranks=ranks, gpus=gpus, cpus=1 if gpus else ranks,
                         torchrun=nodes * ranks > 1 or gpus > 0)

    def estimate(self, cfg: ExperimentConfig, out: Path) -> StageEstimate:
        from rephraser.train.model import preset_config  # torch: only when a grid is estimated

        t = self.meta.train
        seq = t.seq_len or preset_config(t.preset).max_seq_len
        tokens = t.tokens or (t.steps * t.batch_size * seq if t.steps else cfg.mix_tokens)
        if self.spec.decay is not None:  # a decay branch trains only its last steps (from the trunk's checkpoint)
            tokens = self.spec.decay.steps * t.batch_size * seq
        measured = [TrainOutputs.model_validate(m.outputs).tok_s_this_session for m in markers_of_kind(out, "train")
                    if _preset(m.spec) == t.preset]
        measured = [v for v in measured if v]
        tok_s: float | None
        if measured:
            tok_s, basis = measured[-1], "measured in this grid"
        elif t.device == "cuda":
            n = parameters(t.preset, cfg.tokenizer.vocab_size)
            tok_s = GPU_PEAK_FLOPS * GPU_MFU / (6 * n)
            basis = f"6*N*D with N={n / 1e9:.2f}B at {GPU_MFU:.0%} MFU of one H100"
        else:
            tok_s, basis = CPU_TRAIN_TOK_S.get(t.preset), "CPU default (2 cores)"
        s = StageEstimate("train", self.key, f"{t.preset} seed {t.seed}", tokens=float(tokens), basis=basis)
        if tok_s:
            s.seconds = tokens / tok_s
            if t.device == "cuda":
                s.device_hours = s.seconds / SECONDS_PER_HOUR
                s.cost = s.device_hours * cfg.estimate.price_per_hour
        else:
            s.basis = f"no CPU measurement for preset {t.preset}: run one cell on the target hardware"
        return s


def _preset(spec: JsonObject) -> str:
    train_fields = spec.get("train")
    preset = train_fields.get("preset", _DEFAULT_PRESET) if isinstance(train_fields, dict) else None
    return preset if isinstance(preset, str) else _DEFAULT_PRESET


def parameters(preset: str, vocab: int) -> int:
    """Parameter count of a proxy preset, computed from its shape (no model is built)."""
    from rephraser.train.model import preset_config  # torch: only when a grid is estimated

    c = preset_config(preset, vocab_size=vocab)
    kv = c.n_kv_heads * c.head_dim
    per_layer = 2 * c.hidden_size * c.hidden_size + 2 * c.hidden_size * kv + 3 * c.hidden_size * c.intermediate_size
    return c.n_layers * per_layer + vocab * c.hidden_size * (1 if c.tie_embeddings else 2)
