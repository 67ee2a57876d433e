"""Proxy training: AdamW + warmup-stable-decay on tokenized shards, resumable, with held-out bpb.

Output folder:
    train.yaml                 the resolved TrainConfig
    curve.jsonl                one line per log point: step, tokens, loss, lr, heldout_loss, bpb, tok_s
    checkpoints/step-NNNNNNNN/ model checkpoint (config.json, model.pt, tokenizer.json) + trainer.pt
                               (optimizer state) + state.json; the newest `keep_checkpoints` are kept
    final/                     the finished model checkpoint (what the evaluator loads)
    summary.json               parameters, tokens, steps, final held-out loss and bits-per-byte, tok/s

Resuming (`resume=True`, the default) continues from the newest checkpoint when the config matches;
the data order is a pure function of (data_seed, step) and there is no dropout, so an interrupted and
resumed run computes the same updates as an uninterrupted one. CPU runs in fp32; CUDA uses bf16
autocast; the code is the same.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rephraser.errors import ConfigError, ResumeError
from rephraser.evaluate.schedule import wsd_lr

# Fields that may differ between an interrupted run and its resumption.
_RESUME_FREE = {"output", "resume", "threads", "device", "compile", "log_every", "eval_every", "checkpoint_every",
                "keep_checkpoints"}


class TrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: str = Field(..., description="folder written by `rephraser tokenize`")
    output: str = "out/train"
    preset: str = "tiny-1m"
    model: dict[str, Any] = Field(default_factory=dict, description="ProxyConfig overrides, e.g. document_masking")
    seq_len: int | None = Field(None, ge=8, description="default: the preset's max_seq_len")
    batch_size: int = Field(16, ge=1)
    tokens: int | None = Field(None, ge=1, description="token budget (steps = tokens / (batch * seq_len))")
    steps: int | None = Field(None, ge=1, description="optimizer steps; default: one epoch of the train split")
    lr: float = Field(5e-4, gt=0)
    min_lr_ratio: float = Field(0.0, ge=0, le=1)
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = Field(0.1, ge=0)
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
    resume: bool = True
    device: Literal["auto", "cpu", "cuda"] = "auto"
    threads: int | None = Field(None, ge=1, description="torch CPU threads (default: cores available)")
    compile: bool = Field(False, description="torch.compile the model (measured not to pay on the CPU presets)")

    @model_validator(mode="after")
    def _budget(self) -> TrainConfig:
        if self.tokens is not None and self.steps is not None:
            raise ValueError("give tokens or steps, not both")
        if self.warmup_frac + self.decay_frac > 1:
            raise ValueError("warmup_frac + decay_frac must be <= 1")
        return self


def train(cfg: TrainConfig, progress: Any = None) -> dict[str, Any]:
    """Train a proxy model as described by cfg; returns the summary (also written to summary.json)."""
    import torch
    import torch.nn.functional as F

    from rephraser.evaluate.data import WindowBatches, bytes_per_token, heldout_windows
    from rephraser.evaluate.model import ProxyModel, preset_config, save_checkpoint
    from rephraser.mix.tokenize import read_meta

    device = _pick_device(cfg.device)
    torch.set_num_threads(cfg.threads or _cores())
    meta = read_meta(cfg.data)
    overrides = {**cfg.model, "vocab_size": meta["vocab_size"]}
    if cfg.seq_len:
        overrides["max_seq_len"] = cfg.seq_len
    if overrides.get("document_masking"):
        overrides.setdefault("eos_id", meta["eos_id"])
    try:
        mcfg = preset_config(cfg.preset, **overrides)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(x) for x in first["loc"])
        raise ConfigError(f"model{'.' + where if where else ''}: {first['msg']}") from None
    seq_len = mcfg.max_seq_len
    batches = WindowBatches(cfg.data, seq_len, cfg.batch_size, cfg.data_seed)
    per_step = cfg.batch_size * seq_len
    total = cfg.steps or (math.ceil(cfg.tokens / per_step) if cfg.tokens else max(1, batches.n_windows // cfg.batch_size))
    heldout = heldout_windows(cfg.data, seq_len, cfg.eval_tokens)
    bpt = bytes_per_token(cfg.data)
    tokenizer_path = Path(cfg.data) / "tokenizer.json"

    out = Path(cfg.output)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    model = ProxyModel(mcfg).to(device)
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]  # norms: decaying them only hurts
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr, betas=cfg.betas, fused=device == "cuda",
    )
    start = _maybe_resume(cfg, out, model, opt)
    (out / "train.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False), encoding="utf-8")
    step_fn = torch.compile(model) if cfg.compile else model
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device == "cuda" else _null()

    def evaluate() -> tuple[float | None, float | None]:
        if heldout is None:
            return None, None
        model.eval()
        losses = []
        with torch.no_grad(), autocast:
            for i in range(0, len(heldout), cfg.batch_size):
                b = heldout[i : i + cfg.batch_size].to(device)
                logits = step_fn(b[:, :-1])
                losses.append(F.cross_entropy(logits.reshape(-1, logits.shape[-1]), b[:, 1:].reshape(-1)).item() * len(b))
        model.train()
        loss = sum(losses) / len(heldout)
        return loss, (loss / math.log(2) / bpt if bpt else None)

    curve = (out / "curve.jsonl").open("a", encoding="utf-8")
    model.train()
    window_loss, window_steps, window_t0 = 0.0, 0, time.perf_counter()
    run_t0, trained_tokens = time.perf_counter(), 0
    for step in range(start, total):
        lr = wsd_lr(step, total, cfg.lr, cfg.warmup_frac, cfg.decay_frac, cfg.min_lr_ratio)
        for g in opt.param_groups:
            g["lr"] = lr
        batch = batches.batch(step).to(device, non_blocking=True)
        with autocast:
            logits = step_fn(batch[:, :-1])
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), batch[:, 1:].reshape(-1))
        loss.backward()
        if cfg.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        window_loss = window_loss + loss.detach()  # no per-step .item(): it would stall a GPU every step
        window_steps += 1
        trained_tokens += per_step
        done = step + 1
        evaluating = done % cfg.eval_every == 0 or done == total
        if done % cfg.log_every == 0 or evaluating:
            mean_loss = float(window_loss) / window_steps
            elapsed = time.perf_counter() - window_t0
            if not math.isfinite(mean_loss):
                raise ConfigError(f"training diverged by step {done} (loss {mean_loss}); lower the learning rate")
            heldout_loss, bpb = evaluate() if evaluating else (None, None)
            point = {
                "step": done, "tokens": done * per_step, "loss": round(mean_loss, 6),
                "lr": lr, "heldout_loss": heldout_loss, "bpb": bpb,
                "tok_s": round(window_steps * per_step / elapsed, 1), "epoch": round(batches.epoch_of(done), 4),
            }
            curve.write(json.dumps(point) + "\n")
            curve.flush()
            if progress:
                progress(point, total)
            window_loss, window_steps = 0.0, 0
            window_t0 = time.perf_counter()
        if cfg.checkpoint_every and done % cfg.checkpoint_every == 0 and done < total:
            _save_resumable(cfg, out, model, mcfg, opt, tokenizer_path, done)
    curve.close()
    seconds = time.perf_counter() - run_t0
    save_checkpoint(model, mcfg, tokenizer_path, out / "final")
    heldout_loss, bpb = evaluate()
    summary = {
        "preset": cfg.preset, "parameters": model.num_parameters(), "steps": total,
        "tokens": total * per_step, "seq_len": seq_len, "batch_size": cfg.batch_size,
        "final_heldout_loss": heldout_loss, "final_bpb": bpb, "heldout_tokens_scored": 0 if heldout is None else heldout[:, 1:].numel(),
        "device": device, "threads": torch.get_num_threads(), "seconds_this_session": round(seconds, 2),
        "tok_s_this_session": round(trained_tokens / seconds, 1) if seconds > 0 else None,
        "resumed_from_step": start or None, "checkpoint": str(out / "final"),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def _resume_key(cfg: TrainConfig) -> dict[str, Any]:
    return cfg.model_dump(mode="json", exclude=_RESUME_FREE)


def _checkpoints(out: Path) -> list[Path]:
    return sorted((out / "checkpoints").glob("step-*[0-9]"))


def _save_resumable(cfg: TrainConfig, out: Path, model: Any, mcfg: Any, opt: Any, tokenizer_path: Path, step: int) -> None:
    import torch

    from rephraser.evaluate.model import save_checkpoint

    final = out / "checkpoints" / f"step-{step:08d}"
    tmp = final.with_name(final.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    save_checkpoint(model, mcfg, tokenizer_path, tmp)
    torch.save(opt.state_dict(), tmp / "trainer.pt")
    (tmp / "state.json").write_text(json.dumps({"step": step, "config": _resume_key(cfg)}, indent=2), encoding="utf-8")
    tmp.rename(final)  # the folder appears complete or not at all
    for old in _checkpoints(out)[: -cfg.keep_checkpoints]:
        shutil.rmtree(old, ignore_errors=True)


def _maybe_resume(cfg: TrainConfig, out: Path, model: Any, opt: Any) -> int:
    import torch

    found = _checkpoints(out)
    if (out / "summary.json").exists() and cfg.resume:
        raise ResumeError(f"{out} holds a finished run; choose another --output or pass --no-resume")
    if not cfg.resume or not found:
        _reset_outputs(out)
        return 0
    ckpt = found[-1]
    state = json.loads((ckpt / "state.json").read_text(encoding="utf-8"))
    if state["config"] != _resume_key(cfg):
        changed = sorted(k for k in state["config"] if state["config"][k] != _resume_key(cfg).get(k))
        raise ResumeError(f"{out} was trained with a different config ({', '.join(changed)}); use --no-resume or another --output")
    model.load_state_dict(torch.load(ckpt / "model.pt", map_location="cpu", weights_only=True))
    opt.load_state_dict(torch.load(ckpt / "trainer.pt", map_location="cpu", weights_only=True))
    step = int(state["step"])
    _truncate_curve(out / "curve.jsonl", step)
    return step


def _reset_outputs(out: Path) -> None:
    shutil.rmtree(out / "checkpoints", ignore_errors=True)
    shutil.rmtree(out / "final", ignore_errors=True)
    for name in ("curve.jsonl", "summary.json"):
        (out / name).unlink(missing_ok=True)


def _truncate_curve(path: Path, step: int) -> None:
    if not path.exists():
        return
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip() and json.loads(ln)["step"] <= step]
    path.write_text("".join(ln + "\n" for ln in lines), encoding="utf-8")


def _pick_device(choice: str) -> str:
    import torch

    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device=cuda requested but no CUDA device is available")
    return choice


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None
