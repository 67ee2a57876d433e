"""Live progress for a run: units done/total, output tok/s, prefill, ETA (rich), silent when not a terminal."""

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
)

from rephraser.generate.eta import StepTimes, tokens_per_unit
from rephraser.records import Row
from rephraser.sources.count import count_records
from rephraser.sources.files import is_wiki, list_files

COUNT_MAX_BYTES = 1 << 30  # count the input for the progress total only when it is cheap to read twice


def estimate_total_units(cfg, n_prompts: int, routed: Callable[[], int] | None = None) -> int | None:
    """Units (document x prompt) this shard will see, for the progress bar; None when unknown or costly.
    routed: a run with routes gives each document only its route's prompts, so its total is this count of
    the shard's units (generate/routes.py: the runner's own routing), taken only when the input is cheap to
    read twice or `limit` bounds what is read."""
    src = cfg.source
    per_shard_cap = src.limit
    if not sys.stderr.isatty():
        return None
    try:
        cheap = is_wiki(src) or sum(f.path.stat().st_size for f in list_files(src).files) <= COUNT_MAX_BYTES
        if routed is None and cheap:
            records = -(-count_records(src) // src.shard_count)  # shards split by id hash: ≈ an equal share
            return min(records, per_shard_cap or records) * n_prompts
    except Exception:  # noqa: BLE001 - a progress total is a nicety; reading errors surface in the run itself
        cheap = False
    if routed is None:
        return per_shard_cap * n_prompts if per_shard_cap else None
    if not (cheap or per_shard_cap):
        return None
    try:
        return routed()
    except Exception:  # noqa: BLE001 - as above: the run itself reports what cannot be read or routed
        return None


class RunProgress:
    """Units done/total with a live rate and ETA. The bar also moves while calls are running: tokens
    the engine has decoded for unfinished calls count as a fraction of a unit (engines that expose
    `tokens_decoded`), so a run of long generations shows progress before its first unit finishes.

    The rate counts streamed tokens from the first decoded one (the model load and the first prompts'
    prefill are not decode time); until then the line shows the prompt tokens prefilled (engines that
    expose `prompt_tokens_fed`). An engine that also times its own steps (`decode_seconds`,
    `prefill_seconds`, `prompts_prefilled`: the embedded one) gives the rate as output tokens over its
    time in generation steps, non-zero from the first step although prompts are still being prefilled
    between steps (most of a run's first minute).

    The ETA is the output tokens still expected over the decode rate to come, plus the prompts still to
    prefill at the engine's measured time per prompt. Tokens expected: units left x tokens per unit
    (eta.tokens_per_unit: midway between a low and a high estimate; shown as "eta ~" until a unit has
    finished, while the high one is still max_tokens). Rate to come: the measured rate, corrected for the
    batch's occupancy where the engine counts its steps and their rows (`decode_steps`, `decode_rows`;
    eta.StepTimes): the first steps carry the few sequences already past their prefill."""

    TICK_S = 0.5
    MIN_STEP_S = 0.002  # less engine decode time than one step: no rate yet

    def __init__(self, *, enabled: bool, total: int | None, caller, engine=None, tokens_per_call: int = 512,
                 slots: int | None = None):
        self.enabled = enabled and sys.stderr.isatty()
        self.slots = slots  # sequences the engine decodes together (its capabilities' batch_slots)
        self.eta_s: float | None = None  # the last ETA shown, in seconds (benches read it)
        self._steps = StepTimes()
        self.caller = caller
        self.engine = engine
        self.total = total
        self.tokens_per_call = max(1, tokens_per_call)
        self.t0 = time.monotonic()
        self.first_token_t: float | None = None  # when the first output token was seen
        self.tokens_at_first = 0
        self.rejected = self.failed = 0
        self.units_done = 0
        self.fresh_units = 0
        self.in_flight: Callable[[], int] = lambda: 0
        self._ticker: asyncio.Task | None = None
        self._progress = Progress(
            TextColumn("[bold]rephrasing"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
            TimeElapsedColumn(), console=Console(stderr=True), disable=not self.enabled, transient=False,
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
        self._progress.update(self._task, **self.snapshot())

    def snapshot(self, now: float | None = None) -> dict:
        """The bar's state: completed units (with fractions for running calls) and the info text."""
        now = time.monotonic() if now is None else now
        counters = self.caller.counters
        finished_tokens = counters.completion_tokens_generated
        live = getattr(self.engine, "tokens_decoded", None)
        running_tokens = max(0, live - finished_tokens) if isinstance(live, int) else 0
        tokens = finished_tokens + running_tokens
        if tokens and self.first_token_t is None:
            self.first_token_t, self.tokens_at_first = now, tokens
        per_unit = tokens_per_unit(finished_tokens, running_tokens, self.fresh_units, self._running(),
                                   self.tokens_per_call)
        partial = min(running_tokens / max(1.0, per_unit), 0.9 * self.in_flight())
        parts = []
        decoding = now - self.first_token_t if self.first_token_t is not None else 0.0
        # from the first token seen: the time before it was loading and prefill, not decoding
        tok_s = (tokens - self.tokens_at_first) / decoding if decoding > 0 and tokens > self.tokens_at_first else None
        if isinstance(getattr(self.engine, "decode_seconds", None), float):
            # an engine that times its steps: its own rate, none before its first generation step (the
            # first tokens come from prefill calls, and a wall-clock rate then would promise hours)
            tok_s = self._engine_rate(tokens)
        prefill = getattr(self.engine, "prompt_tokens_fed", None)
        if tok_s is None:
            parts.append("starting" if not prefill else f"prefill {prefill:,} prompt tok")
        else:
            parts.append(f"{tok_s:,.0f} tok/s")
            if isinstance(prefill, int) and prefill:
                parts.append(f"prefill {prefill:,}")
        parts.append(f"rejected {self.rejected} · failed {self.failed}")
        self.eta_s = None
        if self.total is not None and tok_s:
            left_tokens = max(0.0, (self.total - self.units_done) * per_unit - running_tokens)
            self.eta_s = left_tokens / (tok_s * self._occupancy_speedup()) + self._prefill_left_s()
            parts.append(f"eta {'' if self.fresh_units else '~'}{_clock(self.eta_s)}")
        return {"completed": self.units_done + partial, "info": " · ".join(parts)}

    def _running(self) -> int:
        """Calls the engine is working on now: at most the units in flight and the engine's slots; with an
        engine that counts its prefilled prompts, those not yet answered."""
        n = self.in_flight()
        if self.slots:
            n = min(n, self.slots)
        prefilled = getattr(self.engine, "prompts_prefilled", None)
        if isinstance(prefilled, int):
            n = min(n, max(0, prefilled - self.caller.counters.completions))
        return n

    def _occupancy_speedup(self) -> float:
        """Decode speed to come over the speed measured so far, from the batch's occupancy (StepTimes);
        1.0 for an engine that does not count its steps' rows."""
        steps, rows = getattr(self.engine, "decode_steps", None), getattr(self.engine, "decode_rows", None)
        spent = getattr(self.engine, "decode_seconds", None)
        if not (isinstance(steps, int) and isinstance(rows, int) and isinstance(spent, float)) or not steps \
                or not self.slots or self.total is None:
            return 1.0
        self._steps.add(steps, rows, spent)
        to_come = min(self.slots, max(1, self.total - self.units_done))  # the last units leave the batch part-empty
        return self._steps.speedup(rows / steps, to_come)

    def _engine_rate(self, tokens: int) -> float | None:
        """Output tokens per second of the engine's own generation steps, where it measures them. A
        prompt's first token is sampled by its prefill step, so those are left out of the count. Early in
        a run this is the speed of the few sequences already decoding between prompt prefills (which the
        ETA adds apart, and corrects for occupancy where it can)."""
        spent = getattr(self.engine, "decode_seconds", None)
        firsts = getattr(self.engine, "prompts_prefilled", 0)
        if not isinstance(spent, float) or spent < self.MIN_STEP_S or not isinstance(firsts, int):
            return None
        return max(0, tokens - firsts) / spent or None

    def _prefill_left_s(self) -> float:
        """Seconds the prompts not yet ready will take, at the engine's measured time per prompt (its
        structure's matcher and its prefill), 0 when it does not measure it."""
        spent = getattr(self.engine, "prefill_seconds", None)
        done = getattr(self.engine, "prompts_prefilled", None)
        if self.total is None or not isinstance(spent, float) or not isinstance(done, int) or not done:
            return 0.0
        waiting = max(0, self.total - (self.units_done - self.fresh_units) - done)  # resumed units need none
        return waiting * spent / done


def _clock(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"
