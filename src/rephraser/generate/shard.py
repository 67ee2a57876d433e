"""One shard's run, set up in one place: `open_shard` refuses what cannot run before any output exists,
takes the shard's lease, prepares the output folder, reads the checkpoint back and starts the engine, and
returns a `ShardContext` holding everything the runner's loop works with.

Resources are closed once, in reverse order, by exit stacks: the lease is held on the caller's stack
until the shard's statistics are written; the engine, the request cache, the live Hub uploads and the
progress display sit on `ShardContext.resources`, which the runner closes right after its loop (so a
model's memory is free before the accounting), or the caller's stack closes if setting up fails part-way.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from rephraser import storage
from rephraser.config import LlamaCppConfig, RunConfig, VllmConfig
from rephraser.engines import build_engine
from rephraser.engines.base import Capabilities, Engine, FatalEngineError
from rephraser.errors import ConfigError, RephraserError
from rephraser.generate.cache import RequestCache
from rephraser.generate.calls import Caller
from rephraser.generate.checkpoint import Checkpoint, DoneState
from rephraser.generate.custom_rollout import load_function
from rephraser.generate.preflight import check_output_outside_source, check_request_fields, peek
from rephraser.generate.progress import RunProgress, estimate_total_units
from rephraser.generate.rollouts import Rollout
from rephraser.generate.routes import count_units
from rephraser.hub.client import HubRepo, require_token
from rephraser.hub.live import LiveUploads
from rephraser.lease import Lease
from rephraser.logs import get_logger
from rephraser.prompts.registry import prompt_ids, resolve_prompts
from rephraser.prompts.spec import PromptSpec
from rephraser.records import Document, Rejection
from rephraser.routing import Router, prepare_router
from rephraser.run_folder import shard_tag
from rephraser.run_identity import check_destination, prepare
from rephraser.sources import iter_source
from rephraser.sources.sharding import ShardPlan, record_plan, run_plan
from rephraser.writer_leases import folder_change, shard_writer

log = get_logger(__name__)
MIN_INPUT_TOKENS = 16  # a context leaving fewer tokens than this for the document cannot rephrase anything


@dataclass(frozen=True)
class RunOptions:
    """How `rephraser run` treats an existing output (the flags that are not part of the RunConfig)."""

    force: bool = False  # continue although config, prompts or inputs changed
    overwrite: bool = False  # delete the folder's previous results first
    progress: bool = True  # a live progress display (on a terminal)
    retry_failed: bool = False  # generate dead-lettered units again
    lease_wait_s: float = 0.0  # wait this long for another writer of the shard before refusing
    repair: bool = False  # generate again the units of committed files that went missing


@dataclass(frozen=True)
class ShardContext:
    """Everything one shard's run works with, created before its loop starts."""

    cfg: RunConfig
    out: storage.Location  # cfg.output.dir, parsed once by whoever started the run
    tag: str  # "s00003-of-00010"
    prompts: list[PromptSpec]
    prompt_names: dict[str, str]  # prompt ref (as listed in cfg.prompts) -> its name
    records: Iterator[Document | Rejection]  # this shard's input, its first record already read
    router: Router | None  # cfg.routing's decisions, or None: every document gets every prompt
    lease: Lease
    checkpoint: Checkpoint
    resume_s: float  # reading the committed state back
    engine: Engine
    caps: Capabilities
    caller: Caller
    rollouts: dict[str, Rollout]  # by prompt name
    progress: RunProgress
    hub: LiveUploads | None  # output.hub_repo's live uploads
    resources: contextlib.AsyncExitStack  # engine, cache, uploads, progress: the runner closes it after its loop

    @property
    def done(self) -> DoneState:
        """What is committed (the checkpoint's state, updated by every commit)."""
        return self.checkpoint.state


async def open_shard(held: contextlib.AsyncExitStack, cfg: RunConfig, opts: RunOptions, out: storage.Location,
                     engine: Engine | None = None) -> ShardContext:
    """Set up shard cfg.source.shard_index of `out`; the lease goes on `held`, so does closing the resources
    if setting up fails after they opened."""
    prompts = resolve_prompts(cfg.prompts)
    check_request_fields(cfg.engine.kind, prompts)
    if cfg.rollout.kind == "custom":  # a bad import path fails before any output or engine start
        load_function(cfg.rollout.function or "")
    # Which files / row groups this shard owns: the plan recorded in the output folder, or a new one.
    plan = run_plan(cfg.source, out, fresh=opts.overwrite)
    # Read the first record now: a missing or unreadable input fails before any output folder exists.
    records = peek(iter_source(cfg.source, plan=plan))
    check_output_outside_source(cfg.source.path, out)
    tag = shard_tag(cfg.source.shard_index, cfg.source.shard_count)
    dest = check_destination(out, overwrite=opts.overwrite)  # before the lease writes OUT/leases there
    lease = held.enter_context(shard_writer(out, tag, wait_s=opts.lease_wait_s, ttl_s=cfg.output.lease_ttl_s))
    with folder_change(out, ttl_s=cfg.output.lease_ttl_s):
        prepare(cfg, {p.name: p.hash for p in prompts}, force=opts.force, tag=tag, dest=dest,
                prompt_ids=prompt_ids(cfg.prompts, prompts))
        record_plan(out, plan)  # OUT/sharding.json, written before any record is read
    router = _router(cfg, out, tag, plan)
    t0 = time.monotonic()
    checkpoint = Checkpoint(out, tag, guard=lambda: lease.ensure_held(check_store=True), epoch=lease.gen,
                            repair=opts.repair)  # the lease generation fences off older writers
    checkpoint.load()
    resume_s = time.monotonic() - t0

    resources = contextlib.AsyncExitStack()
    held.push_async_exit(resources)  # a failure below closes what opened; after the loop, closing again is a no-op
    hub = _start_hub_uploads(resources, cfg, out, tag, checkpoint.state.files)
    engine = await _start_engine(resources, cfg, engine)
    caps = engine.capabilities
    # SQLite needs a local disk: for a remote output the cache stays on this node (storage.local_work_dir)
    cache = RequestCache(storage.local_work_dir(out) / "cache" / f"{tag}.sqlite")
    resources.callback(cache.close)
    options: dict[str, Any] = {"chat_template_kwargs": cfg.engine.chat_template_kwargs} \
        if cfg.engine.chat_template_kwargs else {}
    if "context_aware" in caps.steering and isinstance(cfg.engine, (LlamaCppConfig, VllmConfig)):
        options["context_aware_alpha"] = cfg.engine.context_aware_alpha  # changes every output: cache key
    caller = Caller(engine, cache, caps.model_id, cfg.retry, request_options=options or None)
    rollouts = {p.name: Rollout(p, caps, caller, cfg.sampling, cfg.rollout, cfg.postprocess, cfg.retry.max_attempts,
                                constrain=cfg.engine.constrain) for p in prompts}
    for name, r in rollouts.items():
        if r.input_budget < MIN_INPUT_TOKENS:  # the stack stops the engine: a grid must not keep a model loaded
            raise ConfigError(f"prompt {name}: max_tokens {cfg.sampling.max_tokens} leaves {r.input_budget} tokens "
                              f"for the document in a {caps.max_context}-token context; lower max_tokens or raise n_ctx")
    names = {ref: p.name for ref, p in zip(cfg.prompts, prompts, strict=True)}
    total = _total_units(cfg, prompts, names, router, plan) if opts.progress else None
    progress = RunProgress(enabled=opts.progress, total=total, caller=caller, engine=engine,
                           tokens_per_call=cfg.sampling.max_tokens, slots=caps.batch_slots)
    resources.enter_context(progress)
    return ShardContext(
        cfg=cfg, out=out, tag=tag, prompts=prompts,
        prompt_names=names,
        records=records, router=router, lease=lease, checkpoint=checkpoint, resume_s=resume_s, engine=engine,
        caps=caps, caller=caller, rollouts=rollouts, progress=progress, hub=hub, resources=resources)


def _router(cfg: RunConfig, out: storage.Location, tag: str, plan: ShardPlan) -> Router | None:
    """Routes (cfg.routing) decide each document's prompts; classifier scores they read are computed
    (or read from OUT/scores) for this shard first, before the engine takes memory."""
    if cfg.routing is None:
        return None
    return prepare_router(cfg.routing, lambda: iter_source(cfg.source, plan=plan), out=out, tag=tag)


def _total_units(cfg: RunConfig, prompts: list[PromptSpec], names: dict[str, str], router: Router | None,
                 plan: ShardPlan) -> int | None:
    """The progress bar's total: with routes, the units the loop will make of this shard's records, decided
    by the same router (the shard is read once more for it; estimate_total_units says when)."""
    def routed() -> int:
        return count_units(iter_source(cfg.source, plan=plan), router, names, prompts)
    return estimate_total_units(cfg, len(prompts), routed if router is not None else None)


async def _start_engine(resources: contextlib.AsyncExitStack, cfg: RunConfig, engine: Engine | None) -> Engine:
    engine = engine or build_engine(cfg.engine, max_in_flight=cfg.max_in_flight)
    # registered before start: Ctrl-C while starting also closes what it opened (no "unclosed session" noise)
    resources.push_async_callback(_stop_engine, engine)
    try:
        await engine.start()
    except FatalEngineError as e:
        raise RephraserError(f"engine {cfg.engine.kind} could not start: {e}") from None
    return engine


async def _stop_engine(engine: Engine) -> None:
    with contextlib.suppress(Exception):  # stopping must not hide why the run ended
        await engine.stop()


def _start_hub_uploads(resources: contextlib.AsyncExitStack, cfg: RunConfig, out: storage.Location, tag: str,
                       committed: list[str]) -> LiveUploads | None:
    o = cfg.output
    if not o.hub_repo:
        return None
    require_token()
    uploads = LiveUploads(out, HubRepo(o.hub_repo), tag, every_s=o.hub_every_s, private=o.hub_private)
    uploads.start(committed)

    def close(exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        # the loop ended normally: upload what is left now; else leave it to the next start or `push`
        summary = uploads.close(final=exc_type is None)
        line = f"hub: {summary['uploaded_files']} file(s) uploaded to {summary['repo']} this session"
        if summary["pending_files"]:
            line += (f"; {summary['pending_files']} not yet — the next start of this shard or "
                     f"`rephraser push OUT --repo {summary['repo']}` uploads them")
        log.info(line)

    resources.push(close)
    return uploads
