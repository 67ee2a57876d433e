"""Proxy training: AdamW + warmup-stable-decay on tokenized shards, resumable, with held-out bpb, on one
process or on many under torchrun (DDP or FSDP2).

Output folder (written by rank 0 only):
    train.yaml                 the resolved TrainConfig
    curve.jsonl                one line per log point: step, tokens, loss, lr, heldout_loss, bpb, tok_s,
                               tok_s_per_device, mfu, epoch
    checkpoints/step-NNNNNNNN/ resumable state (train_state.py: weights + optimizer in
                               torch.distributed.checkpoint form); the newest `keep_checkpoints` are kept
    final/                     the finished model checkpoint (config.json, model.pt, tokenizer.json)
    summary.json               parameters, tokens, steps, final held-out loss and bits-per-byte, speed, MFU

One optimizer step always consumes `batch_size` sequences of `seq_len` tokens (the global batch),
whatever the number of ranks: each rank takes its own contiguous slice of the step's batch and, when
`micro_batch_size` is smaller than that slice, accumulates gradients over several forward passes. The
data order is a pure function of (data_seed, step) and there is no dropout, so an interrupted run
resumed on the same or on a different number of ranks computes the same updates as an uninterrupted one
(bit for bit when the micro-batches are the same, see the README). CPU runs in fp32 with gloo; CUDA
uses bf16 autocast, fused AdamW and NCCL.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rephraser.atomic import atomic_dir, atomic_write_json, atomic_write_text, remove_stale_temps
from rephraser.config import one_line_error
from rephraser.errors import ConfigError, ResumeError
from rephraser.mix.tokenize import read_meta
from rephraser.storage import local_only
from rephraser.train.schedule import wsd_lr
from rephraser.train.throughput import flops_per_token, mfu, peak_flops

# Fields that may differ between an interrupted run and its resumption: where and how fast it runs,
# never what it computes.
_RESUME_FREE = {"output", "resume", "threads", "device", "compile", "log_every", "eval_every", "checkpoint_every",
                "keep_checkpoints", "keep_steps", "micro_batch_size", "parallel", "activation_checkpointing", "peak_tflops"}


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: str = Field(..., description="folder written by `rephraser tokenize`")
    output: str = "out/train"
    preset: str = "tiny-1m"
    model: dict[str, Any] = Field(default_factory=dict, description="ProxyConfig overrides, e.g. document_masking")
    seq_len: int | None = Field(None, ge=8, description="default: the preset's max_seq_len")
    batch_size: int = Field(16, ge=1, description="sequences per optimizer step over all ranks "
                            "(tokens per step = batch_size * seq_len whatever the world size)")
    micro_batch_size: int | None = Field(None, ge=1, description="sequences per forward pass on one rank; "
                                         "default: batch_size / world size (no gradient accumulation)")
    tokens: int | None = Field(None, ge=1, description="token budget (steps = tokens / (batch * seq_len))")
    steps: int | None = Field(None, ge=1, description="optimizer steps; default: one epoch of the train split")
    lr: float = Field(5e-4, gt=0)
    min_lr_ratio: float = Field(0.1, ge=0, le=1, description="the decay ends at this fraction of lr")
    betas: tuple[float, float] = (0.9, 0.95)
    adam_eps: float = Field(1e-8, gt=0)
    weight_decay: float = Field(0.1, ge=0, description="on weight matrices; embeddings and norms are not decayed")
    warmup_frac: float = Field(0.01, ge=0, lt=1)
    decay_frac: float = Field(0.1, ge=0, le=1)
    grad_clip: float = Field(1.0, ge=0, description="max global grad norm; 0 = off")
    seed: int = Field(0, description="model initialisation seed")
    data_seed: int = Field(0, description="data order seed")
    eval_every: int = Field(100, ge=1)
    eval_tokens: int = Field(32_768, ge=1, description="held-out tokens scored at each evaluation")
    log_every: int = Field(10, ge=1)
    checkpoint_every: int = Field(0, ge=0, description="steps between resumable checkpoints; 0 = only at the end")
    keep_checkpoints: int = Field(2, ge=1)
    keep_steps: list[int] = Field(default_factory=list, description="also checkpoint at these steps and keep those "
                                  "checkpoints (the starting points of decay branches)")
    init_from: str | None = Field(None, description="start from another run's checkpoints/step-N folder (weights, "
                                  "optimizer state, step) and continue on this run's data and schedule")
    resume: bool = True
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = Field(None, ge=1, description="torch CPU threads per rank (default: cores / local ranks)")
    parallel: Literal["auto", "ddp", "fsdp"] = Field(
        "auto", description="under torchrun: ddp replicates, fsdp shards (FSDP2); auto = fsdp from 300M parameters")
    compile: bool = Field(False, description="torch.compile the model (measured not to pay on the CPU presets)")
    activation_checkpointing: bool = Field(False, description="recompute block activations in backward (saves memory)")
    peak_tflops: float | None = Field(None, gt=0, description="per-device peak for MFU; default: known GPUs, none on CPU")

    @model_validator(mode="after")
    def _budget(self) -> TrainConfig:
        if self.tokens is not None and self.steps is not None:
            raise ValueError("give tokens or steps, not both")
        if self.warmup_frac + self.decay_frac > 1:
            raise ValueError("warmup_frac + decay_frac must be <= 1")
        return self


def accumulation(cfg: TrainConfig, world: int) -> tuple[int, int]:
    """(micro_batch_size, micro-batches per rank per step) for `world` ranks; a one-line error when the
    global batch cannot be split evenly (every rank must see the same number of sequences per step)."""
    if cfg.batch_size % world:
        raise ConfigError(f"batch_size {cfg.batch_size} is not divisible by the world size {world} "
                          f"(every rank takes an equal slice of each step's batch)")
    per_rank = cfg.batch_size // world
    micro = cfg.micro_batch_size or per_rank
    if per_rank % micro:
        raise ConfigError(f"micro_batch_size {micro} does not divide the {per_rank} sequences per rank and step "
                          f"(batch_size {cfg.batch_size} over {world} ranks)")
    return micro, per_rank // micro


def train(cfg: TrainConfig, progress: Any = None) -> dict[str, Any]:
    """Train a proxy model as described by cfg; returns the summary (also written to summary.json).
    Under torchrun every rank calls this; `progress(point, total)` is called on rank 0 only."""
    from rephraser.train import distributed

    local_only(cfg.output, "train output", "checkpoints are written with torch.save and resumed in place")
    read_meta(cfg.data)  # a remote or missing data folder fails here, before any rank starts
    ranks = distributed.start(cfg.device)
    try:
        return _train(cfg, ranks, progress)
    finally:
        distributed.stop(ranks)


def _train(cfg: TrainConfig, ranks: Any, progress: Any) -> dict[str, Any]:
    import torch
    import torch.nn.functional as F

    from rephraser.train import parallel, train_state
    from rephraser.train.data import WindowBatches, bytes_per_token, heldout_windows
    from rephraser.train.distributed import barrier, on_main, sum_all
    from rephraser.train.model import ProxyModel

    device = ranks.device
    torch.set_num_threads(cfg.threads or max(1, _cores() // ranks.local_world))
    micro, accum = accumulation(cfg, ranks.world)
    meta = read_meta(cfg.data)
    mcfg = _model_config(cfg, meta)
    seq_len = mcfg.max_seq_len
    batches = WindowBatches(cfg.data, seq_len, cfg.batch_size, cfg.data_seed)
    per_step = cfg.batch_size * seq_len
    total = cfg.steps or (math.ceil(cfg.tokens / per_step) if cfg.tokens else max(1, batches.n_windows // cfg.batch_size))
    heldout = heldout_windows(cfg.data, seq_len, cfg.eval_tokens)
    bpt = bytes_per_token(cfg.data)
    tokenizer_path = Path(cfg.data) / "tokenizer.json"
    out = Path(cfg.output)

    torch.manual_seed(cfg.seed)  # the same initial weights on every rank and every world size
    model = ProxyModel(mcfg).to(device)
    model.activation_checkpointing = cfg.activation_checkpointing
    n_params = model.num_parameters()
    kind = parallel.choose(cfg.parallel, n_params, ranks)
    cuda = device.startswith("cuda")
    wrapped, step_fn = parallel.wrap(model, kind, ranks, bf16=cuda, compile=cfg.compile)
    opt = _optimizer(model, cfg, fused=cuda)
    resume_from = on_main(ranks, lambda: _prepare_output(cfg, out))
    start = 0
    if resume_from:
        train_state.load(ranks, Path(resume_from), model, opt)
        start = int(train_state.read_state(Path(resume_from))["step"])
        if start >= total:
            raise ConfigError(f"{resume_from} is at step {start}, but this run has only {total} steps")
    if ranks.main:
        atomic_write_text(out / "train.yaml", yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else nullcontext()
    flops_token = flops_per_token(n_params, mcfg, seq_len)
    peak = peak_flops(device, cfg.peak_tflops)
    small_files = {"config.json": (json.dumps(mcfg.model_dump(), indent=2) + "\n").encode(),
                   "tokenizer.json": tokenizer_path.read_bytes()}

    def evaluate() -> tuple[float | None, float | None]:
        """Held-out loss, each rank scoring every world-th window (collective)."""
        if heldout is None:
            return None, None
        model.eval()
        mine = list(range(ranks.rank, len(heldout), ranks.world))
        calls = math.ceil(math.ceil(len(heldout) / ranks.world) / micro)  # equal on every rank: FSDP gathers in step
        loss_sum = torch.zeros((), dtype=torch.float64, device=device)
        with torch.no_grad(), autocast:
            for c in range(calls):
                idx = mine[c * micro : (c + 1) * micro]
                b = heldout[idx or [0]].to(device)  # a rank out of windows runs a dummy batch it does not count
                logits = step_fn(b[:, :-1])
                per_token = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), b[:, 1:].reshape(-1), reduction="none")
                if idx:
                    loss_sum += per_token.view(len(b), -1).mean(1).double().sum()
        model.train()
        loss = float(sum_all(ranks, loss_sum)) / len(heldout)
        return loss, (loss / math.log(2) / bpt if bpt else None)

    curve = (out / "curve.jsonl").open("a", encoding="utf-8") if ranks.main else None
    model.train()
    first_row = ranks.rank * (cfg.batch_size // ranks.world)
    window_loss = torch.zeros((), device=device)
    window_steps, window_t0 = 0, time.perf_counter()
    run_t0, trained_tokens = time.perf_counter(), 0
    for step in range(start, total):
        lr = wsd_lr(step, total, cfg.lr, cfg.warmup_frac, cfg.decay_frac, cfg.min_lr_ratio)
        for g in opt.param_groups:
            g["lr"] = lr
        for m in range(accum):
            lo = first_row + m * micro
            batch = batches.rows(step, lo, lo + micro).to(device, non_blocking=True)
            with parallel.grad_sync(wrapped, kind, sync=m == accum - 1):
                with autocast:
                    logits = step_fn(batch[:, :-1])
                    loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
                # Each micro-batch holds the same number of tokens, so the mean of the micro means is the
                # step's mean; ranks are averaged by DDP / FSDP.
                (loss / accum if accum > 1 else loss).backward()  # type: ignore[no-untyped-call]  # torch leaves it untyped
            window_loss += loss.detach() / accum  # no per-step .item(): it would stall a GPU every step
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        window_steps += 1
        trained_tokens += per_step
        done = step + 1
        evaluating = done % cfg.eval_every == 0 or done == total
        if done % cfg.log_every == 0 or evaluating:
            mean_loss = float(sum_all(ranks, window_loss)) / ranks.world / window_steps
            elapsed = time.perf_counter() - window_t0
            if not math.isfinite(mean_loss):
                raise ConfigError(f"training diverged by step {done} (loss {mean_loss}); lower the learning rate")
            heldout_loss, bpb = evaluate() if evaluating else (None, None)
            tok_s = window_steps * per_step / elapsed
            point = {
                "step": done, "tokens": done * per_step, "loss": round(mean_loss, 6),
                "lr": lr, "heldout_loss": heldout_loss, "bpb": bpb, "tok_s": round(tok_s, 1),
                "tok_s_per_device": round(tok_s / ranks.world, 1),
                "mfu": mfu(tok_s / ranks.world, flops_token, peak), "epoch": round(batches.epoch_of(done), 4),
            }
            if curve is not None:
                curve.write(json.dumps(point) + "\n")
                curve.flush()
            if progress and ranks.main:
                progress(point, total)
            window_loss.zero_()
            window_steps = 0
            window_t0 = time.perf_counter()
        if ((cfg.checkpoint_every and done % cfg.checkpoint_every == 0) or done in cfg.keep_steps) and done < total:
            train_state.save(ranks, out, done, model, opt, {"config": _resume_key(cfg)}, small_files,
                             cfg.keep_checkpoints, pinned=set(cfg.keep_steps))
    if curve is not None:
        curve.close()
    seconds = time.perf_counter() - run_t0
    weights = parallel.full_state_dict(model, kind, ranks.main)
    if ranks.main:
        _publish_final(weights, mcfg, tokenizer_path, out / "final")
    heldout_loss, bpb = evaluate()
    tok_s = trained_tokens / seconds if seconds > 0 else None
    summary = {
        "preset": cfg.preset, "parameters": n_params, "steps": total,
        "tokens": total * per_step, "seq_len": seq_len, "batch_size": cfg.batch_size, "tokens_per_step": per_step,
        "final_heldout_loss": heldout_loss, "final_bpb": bpb, "heldout_tokens_scored": 0 if heldout is None else heldout[:, 1:].numel(),
        "device": device.split(":")[0], "world_size": ranks.world, "parallel": kind, "micro_batch_size": micro,
        "accumulation_steps": accum, "threads": torch.get_num_threads(), "seconds_this_session": round(seconds, 2),
        "tok_s_this_session": round(tok_s, 1) if tok_s else None,
        "tok_s_per_device": round(tok_s / ranks.world, 1) if tok_s else None,
        "flops_per_token": flops_token, "mfu": mfu(tok_s / ranks.world, flops_token, peak) if tok_s else None,
        "resumed_from_step": start or None, "restarts": int(os.environ.get("TORCHELASTIC_RESTART_COUNT", 0)),
        "checkpoint": str(out / "final"),
    }
    if ranks.main:
        atomic_write_json(out / "summary.json", summary)
    barrier(ranks)
    return summary


def _model_config(cfg: TrainConfig, meta: dict[str, Any]) -> Any:
    from rephraser.train.model import PRESETS, preset_config

    overrides = {**cfg.model, "vocab_size": meta["vocab_size"]}
    if cfg.seq_len:
        overrides["max_seq_len"] = cfg.seq_len
    if overrides.get("document_masking", PRESETS.get(cfg.preset, {}).get("document_masking")):
        overrides.setdefault("eos_id", meta["eos_id"])
    try:
        return preset_config(cfg.preset, **overrides)
    except ValidationError as e:
        raise one_line_error(e, "model") from None


def _optimizer(model: Any, cfg: TrainConfig, fused: bool) -> Any:
    import torch

    # Weight decay on the weight matrices only: decaying norms or the (tied) embedding table only hurts.
    decay: list[Any] = []
    no_decay: list[Any] = []
    for name, p in model.named_parameters():
        (decay if p.dim() >= 2 and not name.startswith("embed.") else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, eps=cfg.adam_eps, fused=fused)


def _resume_key(cfg: TrainConfig) -> dict[str, Any]:
    return cfg.model_dump(mode="json", exclude=_RESUME_FREE)


def _prepare_output(cfg: TrainConfig, out: Path) -> str | None:
    """Rank 0: make the folder ready; the checkpoint to resume from, or None to start over."""
    from rephraser.train import train_state

    out.mkdir(parents=True, exist_ok=True)
    if (out / "summary.json").exists() and cfg.resume:
        raise ResumeError(f"{out} holds a finished run; choose another --output or pass --no-resume")
    train_state.remove_partial(out)
    remove_stale_temps(out, ".final.*.tmp")  # a final checkpoint whose save was killed
    found = train_state.checkpoints(out)
    if not cfg.resume or not found:
        _reset_outputs(out)
        return _start_point(cfg)
    ckpt = found[-1]
    state = train_state.read_state(ckpt)
    if state.get("config") != _resume_key(cfg):
        old, new = state.get("config") or {}, _resume_key(cfg)
        changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        raise ResumeError(f"{out} was trained with a different config ({', '.join(changed)}); use --no-resume or another --output")
    if not (ckpt / train_state.DCP_DIR).is_dir():
        raise ResumeError(f"{ckpt} was written by an older rephraser (no {train_state.DCP_DIR}/); use --no-resume")
    _truncate_curve(out / "curve.jsonl", int(state["step"]))
    return str(ckpt)


def _start_point(cfg: TrainConfig) -> str | None:
    """`init_from`: a committed checkpoint of another run (any world size) to start this run from."""
    from rephraser.train import train_state

    if cfg.init_from is None:
        return None
    ckpt = Path(cfg.init_from)
    if not (ckpt / "state.json").is_file() or not (ckpt / train_state.DCP_DIR).is_dir():
        raise ConfigError(f"init_from {ckpt} is not a training checkpoint (checkpoints/step-N with state.json and "
                          f"{train_state.DCP_DIR}/)")
    return str(ckpt)


def _publish_final(weights: Any, mcfg: Any, tokenizer_path: Path, final: Path) -> None:
    from rephraser.train.model import save_checkpoint

    shutil.rmtree(final, ignore_errors=True)
    with atomic_dir(final) as tmp:  # the evaluator sees a whole checkpoint or none
        save_checkpoint(weights, mcfg, tokenizer_path, tmp)


def _reset_outputs(out: Path) -> None:
    shutil.rmtree(out / "checkpoints", ignore_errors=True)
    shutil.rmtree(out / "final", ignore_errors=True)
    for name in ("curve.jsonl", "summary.json"):
        (out / name).unlink(missing_ok=True)


def _truncate_curve(path: Path, step: int) -> None:
    """Drop the points after the checkpoint (they will be trained again), and a line torn by a kill."""
    if not path.exists():
        return
    kept = []
    for ln in path.read_text(encoding="utf-8").splitlines():
        try:
            if json.loads(ln)["step"] <= step:
                kept.append(ln)
        except (ValueError, KeyError, TypeError):
            continue
    atomic_write_text(path, "".join(ln + "\n" for ln in kept))


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
