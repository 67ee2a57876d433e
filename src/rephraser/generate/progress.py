"""Live progress for a run: units done/total, output tok/s, ETA (rich), silent when not a terminal."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Callable

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from rephraser.records import Row
from rephraser.sources.count import count_records
from rephraser.sources.files import is_wiki, list_files

COUNT_MAX_BYTES = 1 << 30  # count the input for the progress total only when it is cheap to read twice


def estimate_total_units(cfg, n_prompts: int) -> int | None:
    """Units (document x prompt) this shard will see, for the progress bar; None when unknown or costly."""
    src = cfg.source
    per_shard_cap = src.limit
    if not sys.stderr.isatty():
        return None
    try:
        if not is_wiki(src) and sum(f.path.stat().st_size for f in list_files(src).files) > COUNT_MAX_BYTES:
            return per_shard_cap * n_prompts if per_shard_cap else None
        records = -(-count_records(src) // src.shard_count)  # shards split by id hash: ≈ an equal share
    except Exception:  # noqa: BLE001 - a progress total is a nicety; reading errors surface in the run itself
        return per_shard_cap * n_prompts if per_shard_cap else None
    return min(records, per_shard_cap or records) * n_prompts


class RunProgress:
    """Units done/total with a live rate and ETA. The bar also moves while calls are running: tokens
    the engine has decoded for unfinished calls count as a fraction of a unit (engines that expose
    `tokens_decoded`), so a run of long generations shows progress before its first unit finishes."""

    TICK_S = 0.5

    def __init__(self, *, enabled: bool, total: int | None, caller, engine=None, tokens_per_call: int = 512):
        self.enabled = enabled and sys.stderr.isatty()
        self.caller = caller
        self.engine = engine
        self.tokens_per_call = max(1, tokens_per_call)
        self.t0 = time.monotonic()
        self.rejected = self.failed = 0
        self.units_done = 0
        self.fresh_units = 0
        self.in_flight: Callable[[], int] = lambda: 0
        self._ticker: asyncio.Task | None = None
        self._progress = Progress(
            TextColumn("[bold]rephrasing"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            console=Console(stderr=True), disable=not self.enabled, transient=False,
        )
        self._task = self._progress.add_task("run", total=total, info="")

    def __enter__(self) -> RunProgress:
        self._progress.__enter__()
        if self.enabled:
            with contextlib.suppress(RuntimeError):  # no running loop: updates come with finished units only
                self._ticker = asyncio.get_running_loop().create_task(self._tick())
        return self

    def __exit__(self, *exc) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        self._render()
        self._progress.__exit__(*exc)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.TICK_S)
            self._render()

    def skip(self) -> None:
        self.units_done += 1
        if self.enabled:
            self._progress.update(self._task, completed=self.units_done)

    def advance(self, rows: list[Row]) -> None:
        self.rejected += sum(r.status == "rejected" for r in rows)
        self.failed += sum(r.status == "failed" for r in rows)
        self.units_done += 1
        self.fresh_units += 1
        self._render()

    def _render(self) -> None:
        if not self.enabled:
            return
        finished_tokens = self.caller.counters.completion_tokens_generated
        live = getattr(self.engine, "tokens_decoded", None)
        running_tokens = max(0, live - finished_tokens) if isinstance(live, int) else 0
        per_unit = finished_tokens / self.fresh_units if self.fresh_units and finished_tokens else self.tokens_per_call
        partial = min(running_tokens / max(1.0, per_unit), 0.9 * self.in_flight())
        elapsed = max(1e-6, time.monotonic() - self.t0)
        tok_s = (finished_tokens + running_tokens) / elapsed
        info = f"{tok_s:,.0f} tok/s · rejected {self.rejected} · failed {self.failed}"
        self._progress.update(self._task, completed=self.units_done + partial, info=info)
