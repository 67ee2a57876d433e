"""generate: rephrase a source's training split with one prompt (or one set of routes) and one generator.

A stage with `generation.shards: N > 1` runs as N resumable shards (an array on a cluster, one after
another locally) into the same folder; the stage's marker sums them.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from rephraser.atomic import atomic_write_bytes, json_text
from rephraser.config import OutputConfig, RunConfig, SourceConfig
from rephraser.config.run import fingerprint_of
from rephraser.cost import MEAN_OUTPUT_TOKENS_PER_SAMPLE, SECONDS_PER_HOUR
from rephraser.engines import engine_spec
from rephraser.errors import RephraserError
from rephraser.experiments.config import ExperimentConfig
from rephraser.experiments.stages.base import (
    KINDS,
    JsonObject,
    Log,
    Resources,
    RunContext,
    Stage,
    StageEstimate,
    StageSpec,
    markers_of_kind,
    read_marker,
)
from rephraser.experiments.stages.generate_figures import GenerateOutputs, sum_shards, summarize_rows
from rephraser.experiments.stages.source import SourceStage
from rephraser.generate.runner import run_config
from rephraser.generate.stats import RunStats
from rephraser.logs import get_logger
from rephraser.prompts.registry import resolve_prompt
from rephraser.route_config import RoutingConfig
from rephraser.run_folder import RUN_JSON, shard_status
from rephraser.scale.ray import engine_gpus
from rephraser.writer_leases import folder_change

_log = get_logger(__name__)


class GenerateSpec(StageSpec):
    OMIT_IF_NONE = frozenset({"rephrase_pick"})
    run: JsonObject  # RunConfig.outcome_fields(), the source replaced by the source stage's key
    rephrase_docs: int | None
    rephrase_pick: str | None = None  # only when not "first", so older grids keep their keys


@dataclass
class GenerateMeta:
    generator: str  # a name in cfg.generators
    prompt_ref: str  # the (first) prompt as the grid names it
    prompt: str  # the prompt's name, or a routed cell's routing name
    prompt_refs: list[str] | None = None  # a routed stage: every route prompt
    routing: RoutingConfig | None = None


class _Measured(BaseModel):
    """The generate figures --dry-run reads back from finished stages."""

    model_config = ConfigDict(extra="ignore")
    rows: dict[str, int] = {}
    tokens: dict[str, int] = {}
    output_tok_per_s: float | None = None
    engine_calls: int | None = None


@KINDS.register
class GenerateStage(Stage[GenerateSpec, GenerateMeta]):
    kind = "generate"
    rank = 2
    Outputs = GenerateOutputs

    def outputs(self, out: Path) -> GenerateOutputs | None:
        m = read_marker(self, out)
        return None if m is None else GenerateOutputs.model_validate(m.outputs)

    def run_config(self, cfg: ExperimentConfig, out: Path, shard: int = 0) -> RunConfig:
        """The RunConfig of one shard: the grid's generation settings on the source's training split (its
        first `rephrase_docs` documents, or that many spread over it)."""
        g, gen = cfg.generation, cfg.generators[self.meta.generator]
        sampling, rollout = gen.rollout_for(g)
        docs, limit = self.dep(SourceStage).dir(out) / "train.jsonl", self.spec.rephrase_docs
        if self.spec.rephrase_pick == "spread" and limit is not None:
            docs, limit = _spread_documents(docs, limit, self.dir(out) / "input.jsonl"), None
        if g.shards > 1 and limit is not None:  # `limit` counts per shard: shard a file of the first N instead
            docs, limit = _first_documents(docs, limit, self.dir(out) / "input.jsonl"), None
        return RunConfig(
            source=SourceConfig(path=str(docs), format="jsonl", id_column="id", limit=limit, shard_index=shard,
                                shard_count=g.shards),
            prompts=self.meta.prompt_refs or [self.meta.prompt_ref], routing=self.meta.routing,
            engine=gen.engine, sampling=sampling, rollout=rollout, retry=g.retry,
            postprocess=gen.postprocess_for(g.postprocess), max_in_flight=g.max_in_flight,
            output=OutputConfig(dir=str(self.dir(out)), rows_per_part=g.rows_per_part),
        )

    def run_shard(self, cfg: ExperimentConfig, out: Path, shard: int, log: Log = _log.info) -> RunStats:
        """One shard (a Slurm array task or a Ray task); resumable, no marker."""
        run = self.run_config(cfg, out, shard)
        what = f"routes {self.meta.prompt} ({', '.join(run.prompts)})" if run.routing else run.prompts[0]
        log(f"generate: {what} with {run.engine.model} ({run.engine.kind}), shard {shard}/{cfg.generation.shards}"
            f" -> {self.dir(out)}")
        follow_moved_grid(run, out)
        return run_config(run, progress=sys.stderr.isatty())  # a live bar only on a terminal

    def run(self, ctx: RunContext) -> GenerateOutputs:
        n = ctx.cfg.generation.shards
        for s in shard_status(ctx.dir, n):  # shards finished elsewhere (array tasks) are not started again
            if s.state != "complete":
                self.run_shard(ctx.cfg, ctx.out, s.index, ctx.log)
        shards = [RunStats.model_validate_json((ctx.dir / "stats" / f"{s.tag}.json").read_text(encoding="utf-8"))
                  for s in shard_status(ctx.dir, n)]
        return summarize_rows(ctx.dir, shards, sum_shards(shards))

    def require_rows(self, out: Path) -> None:
        """A generation that kept no row cannot be mixed: say why (its rejection reasons), not 'no data/'."""
        g = self.outputs(out)
        if g is not None and g.rows.get("ok", 1) == 0:
            reasons = "; ".join(f"{n}x {r}" for r, n in g.rejection_reasons.items()) or "none recorded"
            raise RephraserError(f"generate stage {self.key} kept no rows ({g.rows}); top reasons: {reasons}")

    def resources(self, cfg: ExperimentConfig) -> Resources:
        engine = cfg.generators[self.meta.generator].engine
        return Resources(shards=cfg.generation.shards, engine_kind=engine.kind,
                         gpus=engine_gpus(RunConfig(engine=engine)),
                         cpus=engine.cpus_per_job())

    def estimate(self, cfg: ExperimentConfig, out: Path) -> StageEstimate:
        gen = cfg.generators[self.meta.generator]
        engine = gen.engine
        spec = engine_spec(engine.kind)
        what = self.meta.prompt if self.meta.routing is not None else resolve_prompt(self.meta.prompt_ref).name
        label = f"{what} x {self.meta.generator}"  # a routed stage: ~1 prompt per document assumed
        docs = self.dep(SourceStage).train_documents(out)
        if self.spec.rephrase_docs is not None:
            docs = self.spec.rephrase_docs if docs is None else min(docs, self.spec.rephrase_docs)
        g = cfg.generation
        sampling, rollout = gen.rollout_for(g)
        per_doc = sampling.n if rollout.kind == "samples" and rollout.keep == "all" else 1  # rows per document
        units = None if docs is None else docs * per_doc
        measured = [_Measured.model_validate(m.outputs) for m in markers_of_kind(out, "generate")
                    if _engine_model(m.spec) == engine.model]
        measured = [m for m in measured if (m.engine_calls or 0) > 0]
        per_unit = float(min(g.sampling.max_tokens, MEAN_OUTPUT_TOKENS_PER_SAMPLE))
        basis_tokens = f"≤{per_unit:.0f} tok/doc assumed"
        tok_s: float | None = None
        basis = ""
        if measured:
            m = measured[-1]
            rows = sum(m.rows.get(k, 0) for k in ("ok", "rejected", "failed")) or 1
            per_unit = m.tokens.get("completion", 0) / rows or per_unit
            basis_tokens = f"{per_unit:.0f} tok/doc measured"
            tok_s, basis = m.output_tok_per_s, "measured in this grid"
        if not tok_s and gen.tok_s:
            tok_s, basis = gen.tok_s, "tok_s from the YAML"
        if not tok_s and (assumed := spec.assumed_tok_s(engine.model)):
            tok_s, basis = assumed
        if not tok_s:
            basis = f"no throughput known: set generators.{self.meta.generator}.tok_s"
        s = StageEstimate("generate", self.key, label, basis=f"{basis}; {basis_tokens}")
        if units is None:
            s.basis += "; document count unknown here"
            return s
        s.tokens = units * per_unit
        if tok_s:
            s.seconds = s.tokens / tok_s + spec.startup_s
            if spec.device != "cpu":  # a GPU's hours, in process or behind a server: priced
                # a tensor-parallel replica holds several GPUs for the whole time
                s.device_hours = s.seconds / SECONDS_PER_HOUR * max(1, engine_gpus(RunConfig(engine=engine)))
                s.cost = s.device_hours * cfg.estimate.price_per_hour
        return s


def _engine_model(spec: JsonObject) -> str | None:
    run = spec.get("run")
    engine = run.get("engine") if isinstance(run, dict) else None
    model = engine.get("model") if isinstance(engine, dict) else None
    return model if isinstance(model, str) else None


def _spread_documents(src: Path, n: int, dest: Path) -> Path:
    """n lines spread evenly over src (every k-th), written once like _first_documents."""
    if not dest.is_file():
        with open(src, "rb") as fh:
            lines = fh.readlines()
        step = max(len(lines) / n, 1.0)
        atomic_write_bytes(dest, b"".join(lines[int(i * step)] for i in range(min(n, len(lines)))))
    return dest


def _first_documents(src: Path, n: int, dest: Path) -> Path:
    """The first n lines of src, written once (every shard task writes the same bytes: any winner is right)."""
    if not dest.is_file():
        with open(src, "rb") as fh:
            head = b"".join(line for _, line in zip(range(n), fh, strict=False))
        atomic_write_bytes(dest, head)
    return dest


def follow_moved_grid(run: RunConfig, out: Path) -> None:
    """A moved grid folder (or one reached by another path) resumes its half-finished generate stage.

    The stage's run reads a file inside the grid (the source stage's train.jsonl, or its own input.jsonl),
    so its run.json records that file's path under the old grid root and the run would refuse to resume.
    When the recorded path ends with the same grid-relative path as today's (stages/<kind>/<key>/<file>),
    it is the same stage's file: rewrite the path (and the fingerprint) before the run checks its identity.
    Its content is pinned by the stage key and each document's text hash, which the run still checks. Stage
    keys never held the path; shards starting at once take the folder lease in turn, and the second finds
    nothing left to follow."""
    if run.source.path is None:  # the embedded wiki: nothing inside the grid
        return
    try:
        tail = Path(run.source.path).resolve().relative_to(Path(out).resolve()).parts
    except ValueError:
        return  # an input outside the grid
    if _moved_identity(run, tail) is None:
        return
    # run.json is the folder's: rewrite it under the folder lease, as prepare() writes it, reading it again there
    with folder_change(run.output.dir, ttl_s=run.output.lease_ttl_s):
        moved = _moved_identity(run, tail)
        if moved is not None:
            atomic_write_bytes(Path(run.output.dir) / RUN_JSON, json_text(moved, sort_keys=True).encode())


def _moved_identity(run: RunConfig, tail: tuple[str, ...]) -> dict[str, Any] | None:
    """run.json's identity with its input path moved to today's, when it names the same grid-relative file
    under another root; None when there is nothing to follow (no run yet, an unreadable one: the run says
    so, or the same path)."""
    try:
        old = json.loads((Path(run.output.dir) / RUN_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(old, dict):
        return None
    fields = old.get("outcome_fields")
    src = fields.get("source") if isinstance(fields, dict) else None
    if not isinstance(fields, dict) or not isinstance(src, dict):
        return None
    before = src.get("path")
    if not isinstance(before, str) or before == run.source.path or Path(before).parts[-len(tail):] != tail:
        return None
    src["path"] = run.source.path
    old["fingerprint"] = fingerprint_of(fields)
    return old
