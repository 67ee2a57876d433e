"""The progress bar moves on decoded tokens, before the first unit finishes."""

from __future__ import annotations

import asyncio
import io
import sys
from types import SimpleNamespace

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
            assert "tok/s" in p._progress.tasks[0].fields["info"] and not p._progress.tasks[0].fields["info"].startswith("0 ")
        return seen

    seen = asyncio.run(run())
    assert seen[0] == 0 and 0 < seen[1] < seen[2] <= 0.9 * 8  # fractions of units, never a whole unit per call
