"""`--dry-run`: planned tokens and estimated time/cost of the stages a grid still has to run.

Throughputs are taken, in order of preference, from (1) finished stages of this grid (generation
stats.json tok/s, training tok/s, evaluation seconds per item), (2) a generator's `tok_s` in the
YAML, (3) what the engine's spec assumes (the study's H100 table for vLLM/OpenAI engines, CPU defaults
for llama.cpp), (4) the CPU defaults below for training and evaluation, measured on a 2-core machine
with nothing else running. Every estimate says which it used.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rephraser.config import RunConfig, SourceConfig
from rephraser.cost import MEAN_OUTPUT_TOKENS_PER_SAMPLE, SECONDS_PER_HOUR
from rephraser.engines import engine_spec
from rephraser.evaluate.suite import PROFILES, resolve_tasks
from rephraser.experiments.cells import Cell, Stage, unique_stages
from rephraser.experiments.config import EvalSpec, ExperimentConfig
from rephraser.experiments.stages import is_done, read_marker
from rephraser.prompts.registry import resolve_prompt
from rephraser.scale.ray import engine_gpus
from rephraser.sources.count import count_records
from rephraser.train.trainer import TrainConfig

# Proxy training tok/s on 2 CPU cores (fp32), and evaluation seconds per scored item.
CPU_TRAIN_TOK_S = {"tiny-1m": 15000.0, "mini-8m": 2500.0, "small-30m": 500.0}  # tiny-1m measured ~23k under load
CPU_EVAL_S_PER_ITEM = {"tiny-1m": 0.02, "mini-8m": 0.08, "small-30m": 0.3}
# GPU training: 6 * parameters * tokens FLOPs at 40% of an H100's dense bf16 peak (989 TFLOP/s).
GPU_PEAK_FLOPS, GPU_MFU = 989e12, 0.4
GPU_EVAL_S_PER_ITEM = 0.05
_DEFAULT_PRESET = TrainConfig.model_fields["preset"].default  # what older stage markers left unset
SMALL_STAGE_S = 2.0  # source split / tokenizer on an ablation-sized corpus
MIX_TOKENS_PER_S = 1e6  # mixing + tokenizing (Rust BPE over 2 cores), per stage


@dataclass
class StageEstimate:
    kind: str
    key: str
    label: str
    tokens: float | None = None
    seconds: float | None = None
    device_hours: float | None = None
    cost: float | None = None
    basis: str = ""


@dataclass
class Estimate:
    stages: list[StageEstimate] = field(default_factory=list)
    done: int = 0
    notes: list[str] = field(default_factory=list)

    def total_seconds(self) -> float | None:
        vals = [s.seconds for s in self.stages]
        return None if any(v is None for v in vals) else sum(vals)  # type: ignore[misc]


def _markers(out: Path, kind: str) -> list[dict[str, Any]]:
    found = []
    for p in sorted((out / "stages" / kind).glob("*/stage.json")):
        try:
            found.append(json.loads(p.read_text(encoding="utf-8")))
        except (OSError, json.JSONDecodeError):
            continue
    return found


def _train_docs(cfg: ExperimentConfig, stage: Stage, out: Path) -> int | None:
    marker = read_marker(stage, out)
    if marker:
        return int(marker["outputs"]["train_documents"])

    src = SourceConfig.model_validate(stage.spec["source"])
    if src.limit is not None:
        return round(src.limit * (1 - stage.spec["heldout_fraction"]))
    try:
        return round(count_records(src) * (1 - stage.spec["heldout_fraction"]))
    except Exception:  # noqa: BLE001 - a source only the cluster can read: estimate without it
        return None


def _generate(cfg: ExperimentConfig, stage: Stage, out: Path, est: Estimate) -> StageEstimate:
    gen = cfg.generators[stage.meta["generator"]]
    engine = gen.engine
    spec = engine_spec(engine.kind)
    what = stage.meta["prompt"] if "routing" in stage.meta else resolve_prompt(stage.meta["prompt_ref"]).name
    label = f"{what} x {stage.meta['generator']}"  # a routed stage: ~1 prompt per document assumed
    docs = _train_docs(cfg, stage.dep("source"), out)
    if stage.spec["rephrase_docs"] is not None:
        docs = stage.spec["rephrase_docs"] if docs is None else min(docs, stage.spec["rephrase_docs"])
    g = cfg.generation
    units = None if docs is None else docs * (g.sampling.n if g.rollout.kind == "samples" else 1)
    measured = [m["outputs"] for m in _markers(out, "generate")
                if m["spec"]["run"]["engine"].get("model") == engine.model and (m["outputs"].get("engine_calls") or 0) > 0]
    per_unit = float(min(g.sampling.max_tokens, MEAN_OUTPUT_TOKENS_PER_SAMPLE))
    basis_tokens = f"≤{per_unit:.0f} tok/doc assumed"
    tok_s, basis = None, ""
    if measured:
        m = measured[-1]
        rows = sum((m.get("rows") or {}).get(k, 0) for k in ("ok", "rejected", "failed")) or 1
        per_unit = (m.get("tokens") or {}).get("completion", 0) / rows or per_unit
        basis_tokens = f"{per_unit:.0f} tok/doc measured"
        tok_s, basis = m.get("output_tok_per_s"), "measured in this grid"
    if not tok_s and gen.tok_s:
        tok_s, basis = gen.tok_s, "tok_s from the YAML"
    if not tok_s and (assumed := spec.assumed_tok_s(engine.model)):
        tok_s, basis = assumed
    if not tok_s:
        basis = f"no throughput known: set generators.{stage.meta['generator']}.tok_s"
    s = StageEstimate("generate", stage.key, label, basis=f"{basis}; {basis_tokens}")
    if units is None:
        s.basis += "; document count unknown here"
        return s
    s.tokens = units * per_unit
    if tok_s:
        s.seconds = s.tokens / tok_s + spec.startup_s
        if spec.device != "cpu":  # a GPU's hours, in process or behind a server: priced
            # a tensor-parallel replica holds several GPUs for the whole time
            s.device_hours = s.seconds / SECONDS_PER_HOUR * max(1, engine_gpus(RunConfig(engine=engine)))
            s.cost = s.device_hours * cfg.estimate.price_per_hour
    return s


def _train(cfg: ExperimentConfig, stage: Stage, out: Path) -> StageEstimate:
    from rephraser.train.model import preset_config

    t: TrainConfig = stage.meta["train"]
    seq = t.seq_len or preset_config(t.preset).max_seq_len
    tokens = t.tokens or (t.steps * t.batch_size * seq if t.steps else cfg.mix_tokens)
    if "decay" in stage.spec:  # a decay branch trains only its last steps (it starts from the trunk's checkpoint)
        tokens = stage.spec["decay"]["steps"] * t.batch_size * seq
    measured = [m["outputs"].get("tok_s_this_session") for m in _markers(out, "train")
                if m["spec"]["train"].get("preset", _DEFAULT_PRESET) == t.preset]
    measured = [v for v in measured if v]
    if measured:
        tok_s, basis = measured[-1], "measured in this grid"
    elif t.device == "cuda":
        n = _parameters(t.preset, cfg.tokenizer.vocab_size)
        tok_s = GPU_PEAK_FLOPS * GPU_MFU / (6 * n)
        basis = f"6*N*D with N={n / 1e9:.2f}B at {GPU_MFU:.0%} MFU of one H100"
    else:
        tok_s, basis = CPU_TRAIN_TOK_S.get(t.preset), "CPU default (2 cores)"
    s = StageEstimate("train", stage.key, f"{t.preset} seed {t.seed}", tokens=float(tokens), basis=basis)
    if tok_s:
        s.seconds = tokens / tok_s
        if t.device == "cuda":
            s.device_hours = s.seconds / SECONDS_PER_HOUR
            s.cost = s.device_hours * cfg.estimate.price_per_hour
    else:
        s.basis = f"no CPU measurement for preset {t.preset}: run one cell on the target hardware"
    return s


def _parameters(preset: str, vocab: int) -> int:
    """Parameter count of a proxy preset, computed from its shape (no model is built)."""
    from rephraser.train.model import preset_config

    c = preset_config(preset, vocab_size=vocab)
    kv = c.n_kv_heads * c.head_dim
    per_layer = 2 * c.hidden_size * c.hidden_size + 2 * c.hidden_size * kv + 3 * c.hidden_size * c.intermediate_size
    return c.n_layers * per_layer + vocab * c.hidden_size * (1 if c.tie_embeddings else 2)


def _evaluate(cfg: ExperimentConfig, stage: Stage, out: Path) -> StageEstimate:
    ev: EvalSpec = stage.meta["eval"]
    items = len(resolve_tasks(ev.tasks)) * (ev.max_items or PROFILES[ev.profile])
    trained: TrainConfig = stage.dep("train").meta["train"]
    preset = trained.preset
    measured = [m["seconds"] / max(1, m["outputs"].get("items", 0) or items) for m in _markers(out, "evaluate")]
    if measured:
        per_item, basis = measured[-1], "measured in this grid"
    elif trained.device == "cuda":
        per_item, basis = GPU_EVAL_S_PER_ITEM, "GPU assumption (3-shot cloze, batched)"
    else:
        per_item, basis = CPU_EVAL_S_PER_ITEM.get(preset), "CPU default (2 cores)"
    s = StageEstimate("evaluate", stage.key, f"{items} items", basis=basis)
    if per_item is not None:
        s.seconds = items * per_item + SMALL_STAGE_S
    else:
        s.basis = f"no CPU measurement for preset {preset}"
    return s


def estimate(cfg: ExperimentConfig, cells: list[Cell], out: Path) -> Estimate:
    est = Estimate()
    for stage in unique_stages(cells):
        if is_done(stage, out):
            est.done += 1
            continue
        if stage.kind == "generate":
            est.stages.append(_generate(cfg, stage, out, est))
        elif stage.kind == "train":
            est.stages.append(_train(cfg, stage, out))
        elif stage.kind == "evaluate":
            est.stages.append(_evaluate(cfg, stage, out))
        elif stage.kind in ("mix", "tokenize"):
            tokens = float(cfg.mix_tokens)
            est.stages.append(StageEstimate(stage.kind, stage.key, stage.kind, tokens=tokens,
                                            seconds=SMALL_STAGE_S + tokens / MIX_TOKENS_PER_S, basis="CPU default"))
        else:
            est.stages.append(StageEstimate(stage.kind, stage.key, stage.kind, seconds=SMALL_STAGE_S, basis="small"))
    return est
