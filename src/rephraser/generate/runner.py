"""The generation runner: one shard of a run, from source records to committed Parquet parts.

A bounded asyncio loop keeps up to `max_in_flight` units (document x prompt) in flight so the
engine's continuous batching stays full; finished rows are buffered and committed in atomic parts
(checkpoint.py). Every input record ends exactly once as written, rejected (with reason) or
dead-lettered (with error); the end-of-run accounting checks it. A restart reads manifests, skips
finished units and replays finished calls from the request cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from rephraser import __version__, storage
from rephraser.config import RunConfig
from rephraser.engines import build_engine, engine_spec
from rephraser.engines.base import Engine, FatalEngineError
from rephraser.errors import ConfigError, FailureBudgetExceeded, RephraserError, ResumeError, WriteError
from rephraser.generate.cache import RequestCache
from rephraser.generate.calls import Caller, DeadLetter
from rephraser.generate.checkpoint import INPUT_PROMPT, Checkpoint, shard_tag
from rephraser.generate.custom_rollout import load_function
from rephraser.generate.progress import RunProgress, estimate_total_units
from rephraser.generate.rollouts import Rollout
from rephraser.generate.stats import (
    RunStats,
    aggregate_parts,
    device_hours,
    merge_shard_stats,
    speculation_summary,
)
from rephraser.hub.client import HubRepo, require_token
from rephraser.hub.live import LiveUploads
from rephraser.postprocess.dedup import dedup_folder
from rephraser.prompts.registry import resolve_prompts
from rephraser.prompts.spec import PromptSpec
from rephraser.records import Document, Rejection, Row
from rephraser.routing import Decision, Router, RoutingError, prepare_router
from rephraser.run_folder import prepare, refuse_foreign_folder
from rephraser.sources import iter_source
from rephraser.sources.sharding import record_plan, run_plan
from rephraser.writer_leases import folder_change, shard_writer


def run_config(cfg: RunConfig, *, force: bool = False, overwrite: bool = False, progress: bool = True,
               engine: Engine | None = None, retry_failed: bool = False, lease_wait_s: float = 0.0,
               repair: bool = False, on_rows: Callable[[list[Row]], None] | None = None) -> RunStats:
    """Run (or resume) one shard of `cfg`; return its statistics (also written to OUT/stats/<tag>.json).
    retry_failed: dead-lettered units are generated again (their old rows replaced). lease_wait_s: how
    long to wait for another live writer of the same shard to finish before refusing (exit code 75).
    repair: units of a committed file that went missing are generated again (else the resume refuses).
    on_rows: called with a document's rows as soon as its calls finish (`try`'s live view)."""
    runner = Runner(cfg, force=force, overwrite=overwrite, progress=progress, engine=engine,
                    retry_failed=retry_failed, lease_wait_s=lease_wait_s, repair=repair)
    runner.on_rows = on_rows
    return asyncio.run(runner.run())


class Interrupted(RephraserError):
    pass


class Runner:
    def __init__(self, cfg: RunConfig, *, force: bool, overwrite: bool, progress: bool, engine: Engine | None,
                 retry_failed: bool = False, lease_wait_s: float = 0.0, repair: bool = False):
        self.cfg = cfg
        self.repair = repair
        self.force = force
        self.overwrite = overwrite
        self.retry_failed = retry_failed
        self.lease_wait_s = lease_wait_s
        self.retrying: set[tuple[str, str]] = set()  # dead-lettered units generated again this session
        self.wire_failed = 0  # documents dead-lettered by transport/endpoint errors
        self.last_wire_error = ""
        self.show_progress = progress
        self.engine = engine
        self.buffer: list[Row] = []
        self.buffer_hashes: dict[str, str] = {}
        self.abort: RephraserError | None = None
        self.finished = 0
        self.failed = 0
        self.skipped = 0
        self.last_flush = time.monotonic()
        self.hub = None  # LiveUploads when output.hub_repo is set
        self.on_rows: Callable[[list[Row]], None] | None = None  # a document's rows, as soon as they exist
        self.commit_failed = False
        self._waiting: asyncio.Task | None = None
        self.router: Router | None = None
        self.prompt_names: dict[str, str] = {}  # prompt ref (as listed in cfg.prompts) -> its name

    # ---- main loop -------------------------------------------------------------------
    async def run(self) -> RunStats:
        cfg = self.cfg

        prompts = resolve_prompts(cfg.prompts)
        check_request_fields(cfg.engine.kind, prompts)
        if cfg.rollout.kind == "custom":  # a bad import path fails before any output or engine start
            load_function(cfg.rollout.function or "")
        out = storage.as_location(cfg.output.dir)
        # Which files / row groups this shard owns: the plan recorded in the output folder, or a new one.
        plan = run_plan(cfg.source, out, fresh=self.overwrite)
        # Read the first record now: a missing or unreadable input fails before any output folder exists.
        records = peek(iter_source(cfg.source, plan=plan))
        check_output_outside_source(cfg)
        tag = shard_tag(cfg.source.shard_index, cfg.source.shard_count)
        storage.check_writable(out)  # a read-only location (https://, hf://) is refused before the lease
        if self.overwrite:
            refuse_foreign_folder(out)  # before the lease creates OUT/leases in someone else's folder
        with shard_writer(out, tag, wait_s=self.lease_wait_s, ttl_s=cfg.output.lease_ttl_s) as lease:
            with folder_change(out, ttl_s=cfg.output.lease_ttl_s):
                out = prepare(cfg, {p.name: p.hash for p in prompts}, force=self.force, overwrite=self.overwrite,
                              tag=tag)
                record_plan(out, plan)  # OUT/sharding.json, written before any record is read
            self.router = self._router(out, tag, plan)
            self.prompt_names = {ref: p.name for ref, p in zip(cfg.prompts, prompts, strict=True)}
            return await self._run_shard(out, tag, prompts, records, lease)

    def _router(self, out: storage.Location, tag: str, plan) -> Router | None:
        """Routes (cfg.routing) decide each document's prompts; classifier scores they read are computed
        (or read from OUT/scores) for this shard first, before the engine takes memory."""
        routing = self.cfg.routing
        if routing is None:
            return None
        return prepare_router(routing, lambda: iter_source(self.cfg.source, plan=plan), out=out, tag=tag)

    async def _run_shard(self, out: storage.Location, tag: str, prompts, records, lease) -> RunStats:
        cfg = self.cfg
        t0 = time.monotonic()
        self.ckpt = Checkpoint(out, tag, guard=lambda: lease.ensure_held(check_store=True), epoch=lease.gen,
                               repair=self.repair)  # the lease generation fences off older writers
        state = self.ckpt.load()
        resume_s = time.monotonic() - t0
        self.hub = self._start_hub_uploads(out, tag, state.files)
        engine = self.engine or build_engine(cfg.engine, max_in_flight=cfg.max_in_flight)
        try:
            await engine.start()
        except FatalEngineError as e:
            raise RephraserError(f"engine {cfg.engine.kind} could not start: {e}") from None
        except BaseException:  # Ctrl-C while starting: close what it opened (no "unclosed session" noise)
            with contextlib.suppress(Exception):
                await engine.stop()
            raise
        caps = engine.capabilities
        # SQLite needs a local disk: for a remote output the cache stays on this node (storage.local_work_dir)
        cache = RequestCache(storage.local_work_dir(out) / "cache" / f"{tag}.sqlite")
        options = {"chat_template_kwargs": cfg.engine.chat_template_kwargs} if cfg.engine.chat_template_kwargs else {}
        if "context_aware" in caps.steering:  # changes every output: part of the request cache key
            options["context_aware_alpha"] = cfg.engine.context_aware_alpha
        caller = Caller(engine, cache, caps.model_id, cfg.retry, request_options=options or None)
        try:
            self.rollouts = {p.name: Rollout(p, caps, caller, cfg.sampling, cfg.rollout, cfg.postprocess,
                                             cfg.retry.max_attempts) for p in prompts}
        except ConfigError:
            cache.close()
            await engine.stop()
            raise
        for name, r in self.rollouts.items():
            if r.input_budget < 16:
                cache.close()
                await engine.stop()  # library callers (experiment grids) must not keep a loaded model around
                raise ConfigError(f"prompt {name}: max_tokens {cfg.sampling.max_tokens} leaves {r.input_budget} tokens "
                                  f"for the document in a {caps.max_context}-token context; lower max_tokens or raise n_ctx")
        total = estimate_total_units(cfg, len(prompts)) if self.show_progress else None
        self.progress = RunProgress(enabled=self.show_progress, total=total, caller=caller, engine=engine,
                                    tokens_per_call=cfg.sampling.max_tokens)
        scope_units: list[tuple[str, str]] = []
        scope_docs = scope_input_rejected = 0
        sem = asyncio.Semaphore(cfg.max_in_flight)
        tasks: set[asyncio.Task] = set()
        self.progress.in_flight = lambda: len(tasks)
        self._install_signal_handlers()
        self._waiting = asyncio.current_task()  # a signal wakes the loop from waiting on slow requests
        wall0 = time.monotonic()
        try:
            with self.progress:
                for item in records:
                    if self.abort:
                        break
                    decision = self._route(item)
                    if isinstance(decision, Rejection):  # a user routing function raised on this document
                        item, decision = decision, None
                    if isinstance(item, Rejection):
                        scope_input_rejected += 1
                        unit = (item.id, INPUT_PROMPT)
                        scope_units.append(unit)
                        if unit not in state.units:
                            self._add_rows([input_rejection_row(item)], None)
                        continue
                    scope_docs += 1
                    self._check_input_unchanged(item, state.text_hashes)
                    for p in prompts:
                        if decision is not None and p.name not in decision.prompts:
                            continue  # routed elsewhere
                        unit = (item.id, p.name)
                        scope_units.append(unit)
                        if unit in state.units:
                            if not (self.retry_failed and "f" in state.units[unit]):
                                self.skipped += 1
                                self.progress.skip()
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
            if self.hub is not None:
                self._report_hub(self.hub.close(final=self.abort is None))
            cache.close()
            with contextlib.suppress(Exception):
                await engine.stop()
        if self.abort:
            raise self.abort
        self._check_endpoint()
        stats = self._stats(out, tag, state, scope_units, scope_docs, scope_input_rejected, caller, caps,
                            time.monotonic() - wall0, resume_s)
        if cfg.postprocess.dedup == "report":
            report = dedup_folder(out).to_dict()
            storage.write_json(out / "dedup.json", report)
            stats.dedup = {k: report[k] for k in ("items", "exact_dupes", "near_dupes")}
        return stats

    def _route(self, doc: Document | Rejection) -> Decision | Rejection | None:
        if self.router is None or isinstance(doc, Rejection):
            return None
        try:
            d = self.router.decide(doc)
        except RoutingError as e:
            return Rejection(id=doc.id, reason=str(e), origin=doc.origin, text=doc.text, metadata=doc.metadata)
        return replace(d, prompts=tuple(self.prompt_names[r] for r in d.prompts))  # routes list refs; units use names

    async def _unit(self, doc: Document, prompt: str, sem: asyncio.Semaphore, decision: Decision | None = None) -> None:
        rollout = self.rollouts[prompt]
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
            self.progress.advance(rows)
            if self.on_rows is not None:
                self.on_rows(rows)
            self._check_failure_budget()
        self._flush()

    def _flush(self, force: bool = False) -> None:
        due = len(self.buffer) >= self.cfg.output.rows_per_part or (
            time.monotonic() - self.last_flush >= self.cfg.output.flush_seconds)
        if self.buffer and (force or due) and not self.commit_failed:
            retried = {(r.id, r.prompt) for r in self.buffer} & self.retrying
            try:
                files = self.ckpt.commit(self.buffer, self.buffer_hashes, retried)
            except (OSError, RephraserError) as e:  # disk full, quota, read-only, lost lease: stop the run
                self.commit_failed = True
                self.abort = self.abort or commit_error(e, self.ckpt.out)
                return
            if self.hub is not None:
                self.hub.committed(files)  # only now: its manifest (the commit marker) is written
            self.buffer, self.buffer_hashes = [], {}
            self.last_flush = time.monotonic()

    # ---- live uploads to the Hub (output.hub_repo) ---------------------------------------
    def _start_hub_uploads(self, out, tag: str, committed: list[str]):
        if not self.cfg.output.hub_repo:
            return None
        require_token()
        o = self.cfg.output
        uploads = LiveUploads(out, HubRepo(o.hub_repo), tag, every_s=o.hub_every_s, private=o.hub_private)
        uploads.start(committed)
        return uploads

    @staticmethod
    def _report_hub(summary: dict[str, Any]) -> None:
        line = f"hub: {summary['uploaded_files']} file(s) uploaded to {summary['repo']} this session"
        if summary["pending_files"]:
            line += (f"; {summary['pending_files']} not yet — the next start of this shard or "
                     f"`rephraser push OUT --repo {summary['repo']}` uploads them")
        print(line, file=sys.stderr)

    # ---- guards -----------------------------------------------------------------------
    def _check_failure_budget(self) -> None:
        r = self.cfg.retry
        if self.finished >= r.failure_min_docs and self.failed / self.finished > r.max_failure_rate:
            self.abort = self.abort or FailureBudgetExceeded(
                f"{self.failed} of {self.finished} documents failed ({self.failed / self.finished:.0%} > "
                f"max_failure_rate {r.max_failure_rate:.0%}); stopping — the engine looks broken. Finished work is "
                "committed; fix the engine and rerun the same command to resume")

    def _check_endpoint(self) -> None:
        """Every document of this session dead-lettered by the wire: the endpoint is broken, not the inputs
        (small runs never reach the failure budget's minimum, so this is checked on its own)."""
        if self.finished and self.wire_failed == self.finished:
            raise RephraserError(
                f"all {self.finished} documents of this run failed with transport/endpoint errors (last: "
                f"{self.last_wire_error}); the endpoint looks broken — fix it (engine.base_url, the server) and "
                "rerun with --retry-failed")

    def _check_input_unchanged(self, doc: Document, hashes: dict[str, str]) -> None:
        old = hashes.get(doc.id)
        if old is not None and old != doc.text_hash and not self.force:
            raise ResumeError(f"input changed since the last run: document {doc.id!r} ({doc.origin}) has different "
                              "text; use a new --output, or --force to keep the old generations")

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()

        def stop(signame: str) -> None:
            if isinstance(self.abort, Interrupted):  # the second Ctrl-C: leave now; commits are atomic anyway
                print(f"\n{signame} again: exiting at once; work since the last commit is redone on resume",
                      file=sys.stderr, flush=True)
                os._exit(130)
            self.abort = self.abort or Interrupted(
                f"interrupted by {signame}; finished work is committed — rerun the same command to resume "
                "(press Ctrl-C again to exit at once)")
            if isinstance(self.abort, Interrupted) and self._waiting is not None:
                self._waiting.cancel()

        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, stop, sig.name)

    # ---- accounting -------------------------------------------------------------------
    def _speculation(self, raw: dict[str, list[int]]) -> dict:
        """{"speculation": per prompt name} when the engine speculated, else nothing (the key stays unset)."""
        names = {r.spec.hash: p for p, r in self.rollouts.items() if getattr(r, "spec", None) is not None}
        summary = speculation_summary(raw, names)
        return {"speculation": summary} if summary else {}

    def _stats(self, out: storage.Location, tag: str, state, scope_units, scope_docs, scope_input_rejected, caller, caps,
               wall_s: float, resume_s: float) -> RunStats:
        units = state.units
        counts = {"ok": 0, "rejected": 0, "failed": 0}
        missing = 0
        codes = {"o": "ok", "r": "rejected", "f": "failed"}
        per_unit = {p: r.rows_per_unit() for p, r in self.rollouts.items()}
        bad_arity = 0
        for u in scope_units:
            fates = units.get(u)
            if fates is None:
                missing += 1
                continue
            expected = 1 if u[1] == INPUT_PROMPT else per_unit.get(u[1], 1)
            bad_arity += len(fates) != expected
            for c in fates:
                counts[codes[c]] += 1
        # per routed unit, not docs x prompts: with routes a document gets only its route's prompts
        expected_rows = sum(1 if p == INPUT_PROMPT else per_unit.get(p, 1) for _, p in scope_units)
        conservation_ok = missing == 0 and bad_arity == 0 and sum(counts.values()) == expected_rows
        c = caller.counters
        per_prompt = aggregate_parts(state.parts)
        fresh_tok_s = c.completion_tokens_generated / wall_s if wall_s > 0 else 0.0
        stats = RunStats.model_validate({
            "rephraser_version": __version__,
            "shard": tag,
            "complete": missing == 0,
            "model": caps.model_id,
            "engine": caps.engine,
            "inputs": {"records": scope_docs + scope_input_rejected, "documents": scope_docs,
                       "rejected_input": scope_input_rejected, "limit": self.cfg.source.limit},
            "rows": {"expected": expected_rows, **counts, "missing": missing},
            "conservation_ok": conservation_ok,
            "per_prompt": per_prompt,
            "tokens": {
                "prompt": sum(v["prompt_tokens"] for v in per_prompt.values()),
                "completion": sum(v["completion_tokens"] for v in per_prompt.values()),
            },
            "session": {
                "wall_s": round(wall_s, 3),
                "resume_s": round(resume_s, 3),
                "units_done_before": self.skipped,
                "units_run": self.finished,
                "engine_calls": c.engine_calls,
                "cache_hits": c.cache_hits,
                "cache_off": caller.cache.disabled,  # why the request cache was switched off, if it was
                "units_retried": len(self.retrying),
                **self._speculation(c.speculation),
                "transient_errors": c.transient_errors,
                "fresh_completion_tokens": c.completion_tokens_generated,
                "output_tok_per_s": round(fresh_tok_s, 2),
                **device_hours(engine_spec(self.cfg.engine.kind).device, fresh_tok_s),
            },
        })
        storage.write_json(out / "stats" / f"{tag}.json", stats.to_json(), sort_keys=True)
        merge_shard_stats(out)
        if not conservation_ok:
            raise RephraserError(f"accounting check failed for {tag}: {missing} units missing, {bad_arity} with wrong "
                                 f"row counts, rows {sum(counts.values())} != expected {expected_rows} (see {out / 'stats'})")
        return stats


def check_request_fields(kind: str, prompts: list[PromptSpec]) -> None:
    """Refuse, before any output, a prompt whose requests the engine cannot send (its spec's request_fields)."""
    supported = engine_spec(kind).request_fields
    for p in prompts:
        if p.mode == "continuation" and "continuation" not in supported:
            raise ConfigError(f"prompt {p.name} is a raw-text continuation, which engine {kind} cannot send; "
                              "use a chat prompt or another engine")


def peek(items: Iterator[Any]) -> Iterator[Any]:
    """The same stream with its first item already read (so reading errors surface now)."""
    first = list(itertools.islice(items, 1))
    return itertools.chain(first, items)


def check_output_outside_source(cfg: RunConfig) -> None:
    src, out = cfg.source.path, storage.as_location(cfg.output.dir)
    if src is None or not isinstance(out, Path) or storage.is_remote(src) or not Path(src).is_dir():
        return
    if out.resolve().is_relative_to(Path(src).resolve()):
        raise ConfigError(f"output folder {out} is inside the source folder {src}: a rerun would read its own "
                          "outputs as input; choose an output folder outside the source")


def commit_error(e: Exception, out: storage.Location) -> RephraserError:
    """A failed commit as one line naming the path and the cause; nothing committed before is lost."""
    if isinstance(e, RephraserError) and not isinstance(e, OSError):
        return e  # e.g. the lease was lost: its message says what to do
    head = str(e) if isinstance(e, WriteError) else f"cannot write {getattr(e, 'filename', None) or out}: {e.strerror or e}"
    return WriteError(f"{head}; everything committed before is kept — fix it and rerun the same command to resume")


def input_rejection_row(rej: Rejection) -> Row:
    return Row(id=rej.id, prompt=INPUT_PROMPT, status="rejected", source_text=rej.text,
               source_metadata=rej.metadata, source_origin=rej.origin, reason=rej.reason, calls=0,
               attempts=0)
