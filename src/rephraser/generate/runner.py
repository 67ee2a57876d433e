"""The generation runner: one shard of a run, from source records to committed Parquet parts.

A bounded asyncio loop keeps up to `max_in_flight` units (document x prompt) in flight so the
engine's continuous batching stays full; finished rows are buffered and committed in atomic parts
(checkpoint.py). Every input record ends exactly once as written, rejected (with reason) or
dead-lettered (with error); the end-of-run accounting checks it (accounting.py). A restart reads
manifests, skips finished units and replays finished calls from the request cache. What the loop works
with is set up before it starts (shard.py); a signal stops it after committing (interrupts.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from rephraser import storage
from rephraser.config import RunConfig
from rephraser.engines import engine_spec
from rephraser.engines.base import Engine, FatalEngineError
from rephraser.errors import FailureBudgetExceeded, RephraserError, ResumeError, WriteError
from rephraser.generate.accounting import Scope, Session, account
from rephraser.generate.calls import DeadLetter
from rephraser.generate.checkpoint import INPUT_PROMPT
from rephraser.generate.interrupts import Interrupted, watch_signals
from rephraser.generate.preflight import check_request_fields
from rephraser.generate.routes import prompts_for, route_record
from rephraser.generate.shard import RunOptions, ShardContext, open_shard
from rephraser.generate.stats import RunStats, write_shard_stats
from rephraser.postprocess.dedup import dedup_folder
from rephraser.records import Document, Rejection, Row
from rephraser.routing import Decision

RowsCallback = Callable[[list[Row]], None]


def run_config(cfg: RunConfig, *, out: storage.Location | None = None, force: bool = False, overwrite: bool = False,
               progress: bool = True, engine: Engine | None = None, retry_failed: bool = False,
               lease_wait_s: float = 0.0, repair: bool = False, on_rows: RowsCallback | None = None) -> RunStats:
    """Run (or resume) one shard of `cfg`; return its statistics (also written to OUT/stats/<tag>.json).
    out: cfg.output.dir already parsed (the CLI parses it once); parsed here when not given.
    retry_failed: dead-lettered units are generated again (their old rows replaced). lease_wait_s: how
    long to wait for another live writer of the same shard to finish before refusing (exit code 75).
    repair: units of a committed file that went missing are generated again (else the resume refuses).
    on_rows: called with a document's rows as soon as its calls finish (`try`'s live view).
    A signal stops the run after committing and raises `Interrupted` (generate/interrupts.py)."""
    opts = RunOptions(force=force, overwrite=overwrite, progress=progress, retry_failed=retry_failed,
                      lease_wait_s=lease_wait_s, repair=repair)
    location = out if out is not None else storage.as_location(cfg.output.dir)
    return asyncio.run(run_shard(cfg, opts, location, engine=engine, on_rows=on_rows))


async def run_shard(cfg: RunConfig, opts: RunOptions, out: storage.Location, *, engine: Engine | None = None,
                    on_rows: RowsCallback | None = None) -> RunStats:
    async with contextlib.AsyncExitStack() as held:  # the shard's lease, until its statistics are written
        shard = await open_shard(held, cfg, opts, out, engine)
        run = ShardRun(shard, opts, on_rows)
        async with shard.resources:  # engine, cache, uploads, display: closed here, before the accounting
            await run.loop()
        return finish(shard, run)


class ShardRun:
    """The loop over one shard's records and what it counts as it goes."""

    def __init__(self, shard: ShardContext, opts: RunOptions, on_rows: RowsCallback | None = None):
        self.shard = shard
        self.cfg = shard.cfg
        self.opts = opts
        self.on_rows = on_rows  # a document's rows, as soon as they exist
        self.scope = Scope()
        self.retrying: set[tuple[str, str]] = set()  # dead-lettered units generated again this session
        self.wire_failed = 0  # documents dead-lettered by transport/endpoint errors
        self.last_wire_error = ""
        self.buffer: list[Row] = []
        self.buffer_hashes: dict[str, str] = {}
        self.abort: RephraserError | None = None
        self.finished = self.failed = self.skipped = 0
        self.last_flush = time.monotonic()
        self.commit_failed = False
        self.wall0 = time.monotonic()
        self._waiting: asyncio.Task[None] | None = None

    # ---- main loop -------------------------------------------------------------------
    async def loop(self) -> None:
        """Every record of the shard, then the units still in flight; raises why it stopped early."""
        shard, done = self.shard, self.shard.done
        sem = asyncio.Semaphore(self.cfg.max_in_flight)
        tasks: set[asyncio.Task[None]] = set()
        shard.progress.in_flight = lambda: len(tasks)
        watch_signals(self._stop)
        self._waiting = asyncio.current_task()  # a signal wakes the loop from waiting on slow requests
        self.wall0 = time.monotonic()
        try:
            for item in shard.records:
                if self.abort:
                    break
                decision = route_record(shard.router, shard.prompt_names, item)
                if isinstance(decision, Rejection):  # a user routing function raised on this document
                    item, decision = decision, None
                if isinstance(item, Rejection):
                    self.scope.rejected_input += 1
                    unit = (item.id, INPUT_PROMPT)
                    self.scope.units.append(unit)
                    if unit not in done.units:
                        self._add_rows([input_rejection_row(item)], None)
                    continue
                self.scope.documents += 1
                self._check_input_unchanged(item, done.text_hashes)
                for p in prompts_for(shard.prompts, decision):  # its route's prompts (routes.py)
                    unit = (item.id, p.name)
                    self.scope.units.append(unit)
                    if unit in done.units:
                        if not (self.opts.retry_failed and "f" in done.units[unit]):
                            self.skipped += 1
                            shard.progress.skip()
                            continue
                        self.retrying.add(unit)
                    await sem.acquire()
                    if self.abort:
                        sem.release()
                        break
                    task = asyncio.create_task(self._unit(item, p.name, sem, decision))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                if tasks:
                    await asyncio.sleep(0)  # let finished units flush between documents
            while tasks and not self.abort:
                await asyncio.wait(set(tasks), return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            if not isinstance(self.abort, Interrupted):  # woken by our signal handler; anything else goes on up
                raise
        finally:
            self._waiting = None
            for t in tasks:
                t.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
            self._flush(force=True)
        if self.abort:
            raise self.abort

    def _stop(self, interrupted: Interrupted) -> bool:
        """A signal's request to stop; True when the run now stops for it (see interrupts.watch_signals)."""
        self.abort = self.abort or interrupted
        if self.abort is not interrupted:
            return False
        if self._waiting is not None:
            self._waiting.cancel()
        return True

    async def _unit(self, doc: Document, prompt: str, sem: asyncio.Semaphore, decision: Decision | None) -> None:
        rollout = self.shard.rollouts[prompt]
        try:
            rows = await rollout.run(doc)
        except DeadLetter as e:
            rows = rollout.failed_rows(doc, str(e), e.attempts)
            if e.transport:
                self.wire_failed += 1
                self.last_wire_error = str(e)
        except FatalEngineError as e:
            self.abort = self.abort or RephraserError(f"engine failed: {e}")
            return
        except asyncio.CancelledError:
            raise
        except Exception as e:  # noqa: BLE001 - one document's bug must not kill the run; the failure budget guards
            rows = rollout.failed_rows(doc, f"unexpected {type(e).__name__}: {e}")
        finally:
            sem.release()
        if decision is not None:  # lineage: the row says which route gave it this prompt, and why
            for r in rows:
                r.route, r.route_values = decision.route, decision.values_json()
        self._add_rows(rows, doc)

    def _add_rows(self, rows: list[Row], doc: Document | None) -> None:
        self.buffer.extend(rows)
        if doc is not None:
            self.buffer_hashes[doc.id] = doc.text_hash
            self.finished += 1
            if any(r.status == "failed" for r in rows):
                self.failed += 1
            self.shard.progress.advance(rows)
            if self.on_rows is not None:
                self.on_rows(rows)
            self._check_failure_budget()
        self._flush()

    def _flush(self, force: bool = False) -> None:
        out = self.cfg.output
        due = len(self.buffer) >= out.rows_per_part or time.monotonic() - self.last_flush >= out.flush_seconds
        if self.buffer and (force or due) and not self.commit_failed:
            retried = {(r.id, r.prompt) for r in self.buffer} & self.retrying
            try:
                files = self.shard.checkpoint.commit(self.buffer, self.buffer_hashes, retried)
            except (OSError, RephraserError) as e:  # disk full, quota, read-only, lost lease: stop the run
                self.commit_failed = True
                self.abort = self.abort or commit_error(e, self.shard.out)
                return
            if self.shard.hub is not None:
                self.shard.hub.committed(files)  # only now: its manifest (the commit marker) is written
            self.buffer, self.buffer_hashes = [], {}
            self.last_flush = time.monotonic()

    # ---- guards -----------------------------------------------------------------------
    def _check_failure_budget(self) -> None:
        r = self.cfg.retry
        if self.finished >= r.failure_min_docs and self.failed / self.finished > r.max_failure_rate:
            self.abort = self.abort or FailureBudgetExceeded(
                f"{self.failed} of {self.finished} documents failed ({self.failed / self.finished:.0%} > "
                f"max_failure_rate {r.max_failure_rate:.0%}); stopping — the engine looks broken. Finished work is "
                "committed; fix the engine and rerun the same command to resume")

    def check_endpoint(self) -> None:
        """Every document of this session dead-lettered by the wire: the endpoint is broken, not the inputs
        (small runs never reach the failure budget's minimum, so this is checked on its own)."""
        if self.finished and self.wire_failed == self.finished:
            raise RephraserError(
                f"all {self.finished} documents of this run failed with transport/endpoint errors (last: "
                f"{self.last_wire_error}); the endpoint looks broken — fix it (engine.base_url, the server) and "
                "rerun with --retry-failed")

    def _check_input_unchanged(self, doc: Document, hashes: dict[str, str]) -> None:
        old = hashes.get(doc.id)
        if old is not None and old != doc.text_hash and not self.opts.force:
            raise ResumeError(f"input changed since the last run: document {doc.id!r} ({doc.origin}) has different "
                              "text; use a new --output, or --force to keep the old generations")


def finish(shard: ShardContext, run: ShardRun) -> RunStats:
    """After the loop and the resources closed: check the endpoint, account for every unit, persist the
    statistics, refuse an imbalance, and add the dedup report when asked."""
    run.check_endpoint()
    cfg, caller = shard.cfg, shard.caller
    result = account(
        tag=shard.tag, done=shard.done, scope=run.scope,
        rows_per_unit={p: r.rows_per_unit() for p, r in shard.rollouts.items()},
        counters=caller.counters, cache_off=caller.cache.disabled, caps=shard.caps,
        device=engine_spec(cfg.engine.kind).device, limit=cfg.source.limit,
        prompt_by_hash={r.spec.hash: p for p, r in shard.rollouts.items()},
        session=Session(units_done_before=run.skipped, units_run=run.finished, units_retried=len(run.retrying),
                        wall_s=time.monotonic() - run.wall0, resume_s=shard.resume_s))
    write_shard_stats(shard.out, result.stats)
    if not result.balanced:
        raise RephraserError(f"accounting check failed for {shard.tag}: {result.imbalance()} "
                             f"(see {shard.out / 'stats'})")
    stats = result.stats
    if cfg.postprocess.dedup == "report":
        report = dedup_folder(shard.out).to_dict()  # type: ignore[arg-type]  # it reads through storage: a Url works
        storage.write_json(shard.out / "dedup.json", report)
        stats.dedup = {k: report[k] for k in ("items", "exact_dupes", "near_dupes")}
    return stats


def commit_error(e: Exception, out: storage.Location) -> RephraserError:
    """A failed commit as one line naming the path and the cause; nothing committed before is lost."""
    if not isinstance(e, OSError):
        return e if isinstance(e, RephraserError) else RephraserError(str(e))  # e.g. the lease was lost: it says what to do
    head = str(e) if isinstance(e, WriteError) else f"cannot write {e.filename or out}: {e.strerror or e}"
    return WriteError(f"{head}; everything committed before is kept — fix it and rerun the same command to resume")


def input_rejection_row(rej: Rejection) -> Row:
    return Row(id=rej.id, prompt=INPUT_PROMPT, status="rejected", source_text=rej.text,
               source_metadata=rej.metadata, source_origin=rej.origin, reason=rej.reason, calls=0,
               attempts=0)


__all__ = ["Interrupted", "RunOptions", "check_request_fields", "finish", "run_config", "run_shard"]
