"""The progress bar moves on decoded tokens, before the first unit finishes."""

from __future__ import annotations

import asyncio
import io
import sys
from types import SimpleNamespace

import pytest

from rephraser.generate.calls import CallCounters
from rephraser.generate.progress import RunProgress


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bar_and_rate_move_with_tokens_of_running_calls(monkeypatch):
    monkeypatch.setattr(sys, "stderr", Tty())
    caller = SimpleNamespace(counters=CallCounters())
    engine = SimpleNamespace(tokens_decoded=0)

    async def run() -> list[float]:
        seen = []
        p = RunProgress(enabled=True, total=40, caller=caller, engine=engine, tokens_per_call=100)
        p.in_flight = lambda: 8
        p.TICK_S = 0.01
        with p:
            for decoded in (0, 200, 400):
                engine.tokens_decoded = decoded  # 8 calls running, none finished yet
                await asyncio.sleep(0.05)
                seen.append(p._progress.tasks[0].completed)
        return seen

    seen = asyncio.run(run())
    assert seen[0] == 0 and 0 < seen[1] < seen[2] <= 0.9 * 8  # fractions of units, never a whole unit per call


def test_rate_prefill_and_eta_are_truthful_from_the_first_decoded_tokens(monkeypatch):
    """A job of 40 units (max_tokens 100) at ~72 tok/s, said within a second of decoding. 8 calls have
    10 tokens each: a unit is taken as midway between 10 (what they have) and 100 (max_tokens), 55 tokens;
    40 x 55 - 80 decoded = 2,120 tokens left at 72 tok/s = 29 s, marked "~" until a unit has finished."""
    monkeypatch.setattr(sys, "stderr", Tty())
    caller = SimpleNamespace(counters=CallCounters())
    engine = SimpleNamespace(tokens_decoded=0, prompt_tokens_fed=0)
    p = RunProgress(enabled=True, total=40, caller=caller, engine=engine, tokens_per_call=100)
    p.in_flight = lambda: 8
    t0 = p.t0
    assert p.snapshot(t0 + 1)["info"].startswith("starting")
    engine.prompt_tokens_fed = 2400  # 8 prompts prefilled, nothing decoded yet: no rate, no absurd ETA
    info = p.snapshot(t0 + 4)["info"]
    assert info.startswith("prefill 2,400 prompt tok") and "eta" not in info
    engine.tokens_decoded = 8  # the first decode step
    p.snapshot(t0 + 5)
    engine.tokens_decoded = 80
    snap = p.snapshot(t0 + 6)
    assert snap["info"].startswith("72 tok/s · prefill 2,400") and "eta ~0:29" in snap["info"]
    assert snap["completed"] == pytest.approx(80 / 55)  # the running calls' tokens, in units of 55 tokens


def test_an_engine_that_times_its_steps_gives_the_rate_and_eta_while_prompts_still_prefill(monkeypatch):
    """The first minute of a real run: one document decodes while the next prompts are prefilled between
    its steps, so few tokens come out per wall second. The embedded engine's own step times give the
    decode rate from the first step, and the prompts still waiting are added at the prefill speed."""
    monkeypatch.setattr(sys, "stderr", Tty())
    caller = SimpleNamespace(counters=CallCounters())
    engine = SimpleNamespace(tokens_decoded=0, prompt_tokens_fed=0, decode_seconds=0.0, prefill_seconds=0.0,
                             prompts_prefilled=0)
    p = RunProgress(enabled=True, total=40, caller=caller, engine=engine, tokens_per_call=100)
    p.in_flight = lambda: 8
    t0 = p.t0
    engine.prompt_tokens_fed, engine.prefill_seconds, engine.prompts_prefilled = 250, 0.5, 1  # 0.5 s a prompt
    engine.tokens_decoded = 1  # its first token comes from the prefill step: no decode rate yet
    assert p.snapshot(t0 + 3)["info"].startswith("prefill 250 prompt tok")
    info = p.snapshot(t0 + 9)["info"]  # 6 s later, still no generation step: no wall-clock "0 tok/s, eta 30 h"
    assert info.startswith("prefill 250 prompt tok") and "eta" not in info
    engine.tokens_decoded, engine.decode_seconds = 22, 1.0  # 2 first tokens + 20 from a second of decode steps
    engine.prompt_tokens_fed, engine.prefill_seconds, engine.prompts_prefilled = 500, 1.0, 2
    info = p.snapshot(t0 + 12)["info"]  # 10 s of wall clock since the first token: the wall rate would be ~2
    # 2 calls running with 11 tokens each: 55.5 tokens a unit (midway to max_tokens 100);
    # 40 x 55.5 - 22 = 2,198 tokens at 20 tok/s = 109.9 s, + 38 prompts to come x 0.5 s = 19 s
    assert info.startswith("20 tok/s · prefill 500") and "eta ~2:09" in info


def test_early_steps_with_few_rows_are_corrected_to_the_full_batch_speed(monkeypatch):
    """Steps cost 0.1 s + 0.01 s a row (a fixed cost per step, as on a busy CPU); the first 30 steps carried
    2, 4, then 6 rows while prompts were still prefilled, 28.6 tok/s. A full batch of 8 will decode
    8 / 0.18 = 44.4 tok/s, and the ETA counts on that; once a unit has finished the "~" goes."""
    monkeypatch.setattr(sys, "stderr", Tty())
    caller = SimpleNamespace(counters=CallCounters())
    engine = SimpleNamespace(tokens_decoded=0, prompt_tokens_fed=0, decode_seconds=0.0, prefill_seconds=0.0,
                             prompts_prefilled=0, decode_steps=0, decode_rows=0)
    p = RunProgress(enabled=True, total=40, caller=caller, engine=engine, tokens_per_call=100, slots=8)
    p.in_flight = lambda: 8
    t0 = p.t0
    steps = rows = 0
    seconds = 0.0
    for i, r in enumerate((2, 4, 6), start=1):
        steps, rows, seconds = steps + 10, rows + 10 * r, seconds + 10 * (0.1 + 0.01 * r)
        engine.decode_steps, engine.decode_rows, engine.decode_seconds = steps, rows, seconds
        engine.prompts_prefilled, engine.prefill_seconds = r, 0.5 * r
        engine.tokens_decoded = r + rows  # each prompt's first token, then one a row
        info = p.snapshot(t0 + i)["info"]
    assert info.startswith("29 tok/s")  # measured: 120 tokens over 4.2 s of steps
    # 6 running with 21 tokens each: 60.5 tokens a unit; 40 x 60.5 - 126 = 2,294 tokens at 44.4 tok/s,
    # + 34 prompts to come x 0.5 s
    assert p.eta_s == pytest.approx(2294 / (8 / 0.18) + 17) and "eta ~1:09" in info
    caller.counters.completion_tokens_generated, caller.counters.completions = 90, 1
    p.advance([SimpleNamespace(status="ok")])
    info = p.snapshot(t0 + 4)["info"]
    assert "eta " in info and "eta ~" not in info
