"""Live progress for a run: units done/total, output tok/s, ETA (rich), silent when not a terminal."""

from __future__ import annotations

import sys
import time

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
    def __init__(self, *, enabled: bool, total: int | None, caller):
        self.enabled = enabled and sys.stderr.isatty()
        self.caller = caller
        self.t0 = time.monotonic()
        self.rejected = self.failed = 0
        self._progress = Progress(
            TextColumn("[bold]rephrasing"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
            console=Console(stderr=True), disable=not self.enabled, transient=False,
        )
        self._task = self._progress.add_task("run", total=total, info="")

    def __enter__(self) -> RunProgress:
        self._progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.__exit__(*exc)

    def skip(self) -> None:
        if self.enabled:
            self._progress.advance(self._task)

    def advance(self, rows: list[Row]) -> None:
        self.rejected += sum(r.status == "rejected" for r in rows)
        self.failed += sum(r.status == "failed" for r in rows)
        if not self.enabled:
            return
        elapsed = max(1e-6, time.monotonic() - self.t0)
        tok_s = self.caller.counters.completion_tokens_generated / elapsed
        info = f"{tok_s:,.0f} tok/s · rejected {self.rejected} · failed {self.failed}"
        self._progress.update(self._task, advance=1, info=info)
