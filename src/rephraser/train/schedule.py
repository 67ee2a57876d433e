"""Warmup-stable-decay learning rate (the FinePhrase study's proxy runs: 1% warmup, last 10% linear decay)."""

from __future__ import annotations


def wsd_lr(
    step: int, total_steps: int, peak: float, warmup_frac: float = 0.01, decay_frac: float = 0.1, min_ratio: float = 0.0
) -> float:
    """Learning rate for 0-based `step` of `total_steps`.

    warmup: linear from peak/W to peak over the first W = max(1, round(warmup_frac * total)) steps;
    stable: peak; decay: the last D = round(decay_frac * total) steps go linearly from peak towards
    min_ratio * peak, the last step sitting one decrement above it (no step is wasted at lr 0).
    """
    if not 0 <= step < total_steps:
        raise ValueError(f"step {step} outside [0, {total_steps})")
    warmup = max(1, round(warmup_frac * total_steps)) if warmup_frac > 0 else 0
    decay = round(decay_frac * total_steps)
    decay_start = total_steps - decay
    if step < warmup:
        return peak * (step + 1) / warmup
    if step < decay_start:
        return peak
    floor = min_ratio * peak
    return floor + (peak - floor) * (1 - (step - decay_start) / decay)
