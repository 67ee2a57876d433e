"""Training: WSD schedule values, loss drops, exact resume after an interruption, curve + summary."""

from __future__ import annotations

import json

import pytest
import torch

from rephraser.errors import ConfigError, ResumeError
from rephraser.train.model import load_checkpoint
from rephraser.train.schedule import wsd_lr
from rephraser.train.trainer import TrainConfig, train


def test_wsd_schedule_key_steps():
    total, peak = 1000, 5e-4
    assert wsd_lr(0, total, peak) == pytest.approx(peak / 10)  # 1% warmup = 10 steps
    assert wsd_lr(9, total, peak) == pytest.approx(peak)
    assert wsd_lr(10, total, peak) == peak
    assert wsd_lr(899, total, peak) == peak  # stable until the last 10%
    assert wsd_lr(900, total, peak) == peak
    assert wsd_lr(950, total, peak) == pytest.approx(peak / 2)
    assert wsd_lr(999, total, peak) == pytest.approx(peak / 100)
    assert wsd_lr(999, total, peak, min_ratio=0.1) == pytest.approx(0.1 * peak + 0.9 * peak / 100)
    lrs = [wsd_lr(s, total, peak) for s in range(900, 1000)]
    assert all(a > b for a, b in zip(lrs, lrs[1:], strict=False))
    assert wsd_lr(0, 5, 1.0) == 1.0  # warmup of at least one step, even for tiny runs
    with pytest.raises(ValueError):
        wsd_lr(1000, total, peak)


def _cfg(data, out, model, **kw) -> TrainConfig:
    base = dict(data=str(data), output=str(out), model=model, seq_len=64, batch_size=8, lr=3e-3, eval_every=20,
                eval_tokens=2048, log_every=5, threads=1)
    return TrainConfig(**{**base, **kw})


def test_tiny_model_loss_drops_and_outputs_are_complete(tmp_path, tiny_corpus, micro_model_overrides):
    summary = train(_cfg(tiny_corpus, tmp_path / "run", micro_model_overrides, steps=40))
    curve = [json.loads(x) for x in (tmp_path / "run" / "curve.jsonl").read_text().splitlines()]
    assert [p["step"] for p in curve] == list(range(5, 45, 5))
    assert curve[-1]["loss"] < curve[0]["loss"] - 0.5
    evals = [p for p in curve if p["bpb"] is not None]
    assert [p["step"] for p in evals] == [20, 40] and evals[1]["heldout_loss"] < evals[0]["heldout_loss"]
    assert summary["final_bpb"] == pytest.approx(evals[-1]["bpb"])
    assert summary["tokens"] == 40 * 8 * 64 and summary["steps"] == 40
    meta = json.loads((tiny_corpus / "meta.json").read_text())
    expected_bpb = summary["final_heldout_loss"] / torch.log(torch.tensor(2.0)).item() / meta["splits"]["heldout"]["bytes_per_token"]
    assert summary["final_bpb"] == pytest.approx(expected_bpb)
    model, tok, cfg = load_checkpoint(tmp_path / "run" / "final")
    assert cfg.vocab_size == meta["vocab_size"] and cfg.max_seq_len == 64
    assert tok.get_vocab_size() == meta["vocab_size"]
    with pytest.raises(ResumeError, match="finished run"):
        train(_cfg(tiny_corpus, tmp_path / "run", micro_model_overrides, steps=40))


class _Stop(Exception):
    pass


def test_interrupted_run_resumes_to_identical_weights(tmp_path, tiny_corpus, micro_model_overrides):
    straight = _cfg(tiny_corpus, tmp_path / "straight", micro_model_overrides, steps=24, checkpoint_every=8)
    train(straight)

    def crash_after_step_13(point, total):
        if point["step"] >= 13:
            raise _Stop

    resumed = _cfg(tiny_corpus, tmp_path / "resumed", micro_model_overrides, steps=24, checkpoint_every=8)
    with pytest.raises(_Stop):
        train(resumed, progress=crash_after_step_13)
    assert [p.name for p in sorted((tmp_path / "resumed" / "checkpoints").iterdir())] == ["step-00000008"]
    summary = train(resumed)
    assert summary["resumed_from_step"] == 8
    a, _, _ = load_checkpoint(tmp_path / "straight" / "final")
    b, _, _ = load_checkpoint(tmp_path / "resumed" / "final")
    for (name, pa), (_, pb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert torch.equal(pa, pb), name
    steps = [json.loads(x)["step"] for x in (tmp_path / "resumed" / "curve.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)) and steps[-1] == 24  # no duplicated points after the resume
    with pytest.raises(ResumeError, match="different config"):
        (tmp_path / "resumed" / "summary.json").unlink()
        train(_cfg(tiny_corpus, tmp_path / "resumed", micro_model_overrides, steps=24, checkpoint_every=8, lr=1e-3))


def test_config_errors(tmp_path, tiny_corpus):
    with pytest.raises(ValueError, match="not both"):
        TrainConfig(data="x", tokens=10, steps=10)
    with pytest.raises(ConfigError, match="divisible"):
        train(_cfg(tiny_corpus, tmp_path / "bad", {"n_heads": 3}, steps=2))


def test_token_budget_sets_steps_and_document_masking_trains(tmp_path, tiny_corpus, micro_model_overrides):
    model = {**micro_model_overrides, "document_masking": True}
    summary = train(_cfg(tiny_corpus, tmp_path / "budget", model, tokens=8 * 64 * 3 + 1, eval_every=100))
    assert summary["steps"] == 4 and summary["tokens"] == 4 * 8 * 64  # budget rounded up to whole steps
    _, _, cfg = load_checkpoint(tmp_path / "budget" / "final")
    meta = json.loads((tiny_corpus / "meta.json").read_text())
    assert cfg.document_masking and cfg.eos_id == meta["eos_id"]
