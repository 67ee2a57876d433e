"""The stage seam: what every stage kind provides, and the marker that says a stage is done.

A stage kind is one class in its own module (stages/<kind>.py): a `Spec` (the JSON-able inputs its key
hashes and its marker records), an `Outputs` model (the marker's summary, read back typed), `run`,
`resources` (what an executor job asks for) and `estimate` (the --dry-run line). `KINDS` registers
them in pipeline order.

A stage's folder is OUT/stages/<kind>/<key>/. The marker `stage.json` (kind, key, spec, upstream keys,
outputs summary, seconds) is written last and atomically, so a folder without it is unfinished: the next
run redoes it (generation and training resume inside the folder; the others are cheap and simply rerun).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, JsonValue, SerializerFunctionWrapHandler, model_serializer

from rephraser.atomic import atomic_write_json
from rephraser.logs import get_logger

if TYPE_CHECKING:  # the grid's config is only an argument type here
    from rephraser.experiments.config import ExperimentConfig

MARKER = "stage.json"
_log = get_logger(__name__)  # where stage lines go when the caller gives no sink
# A stage's log line sink (the grid indents them under its cell; a cluster job prints them).
Log = Callable[[str], None]
JsonObject = dict[str, JsonValue]

SMALL_STAGE_S = 2.0  # --dry-run: a source split / tokenizer on an ablation-sized corpus


class JsonModel(BaseModel):
    """A model written as JSON in a fixed field order; fields named in OMIT_IF_NONE are left out while
    None, so a knob added later keeps the keys (and marker bytes) of everything that does not set it."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    OMIT_IF_NONE: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _omit_unset(self, handler: SerializerFunctionWrapHandler) -> JsonObject:
        data: JsonObject = handler(self)
        for name in self.OMIT_IF_NONE:
            if data.get(name, 0) is None:
                del data[name]
        return data

    def as_json(self) -> JsonObject:
        return self.model_dump(mode="json")


class StageSpec(JsonModel):
    """What a stage produces is a function of its spec and its upstream stages' keys (nothing else)."""


class StageOutputs(JsonModel):
    """The marker's summary of what a stage produced. Read back leniently: a marker written by an older
    version may lack a figure (None) or carry one no longer recorded (kept as it is)."""

    model_config = ConfigDict(extra="allow", frozen=True)


@dataclass(frozen=True)
class NoMeta:
    """A stage kind that needs nothing beyond its spec to run."""


@dataclass
class Resources:
    """What one executor job of a stage asks for (jobs.StageJob carries these)."""

    shards: int = 1  # > 1: an array of shard tasks, then a finish job
    gpus: int = 0  # per task (per node for training)
    cpus: int = 1
    nodes: int = 1
    ranks: int = 1  # training ranks per node under torchrun
    torchrun: bool = False
    engine_kind: str | None = None  # generate stages: the engine (its start-up is paid per shard)


@dataclass
class StageEstimate:
    """One --dry-run line: planned tokens and time of a stage still to run, and what the figures rest on."""

    kind: str
    key: str
    label: str
    tokens: float | None = None
    seconds: float | None = None
    device_hours: float | None = None
    cost: float | None = None
    basis: str = ""


class Marker(BaseModel):
    """OUT/stages/<kind>/<key>/stage.json (field order = the file's)."""

    model_config = ConfigDict(extra="allow")
    kind: str
    key: str
    spec: JsonObject
    deps: list[list[str]]
    outputs: JsonObject
    seconds: float = 0.0
    finished_at: str | None = None


@dataclass
class RunContext:
    """What a running stage gets: the grid, the grid's output folder, its own folder and a log sink."""

    cfg: ExperimentConfig
    out: Path
    dir: Path
    log: Log


SpecT = TypeVar("SpecT", bound=StageSpec)
MetaT = TypeVar("MetaT")
StageT = TypeVar("StageT", bound="Stage[Any, Any]")


@dataclass(frozen=True, eq=False)
class Stage(Generic[SpecT, MetaT]):
    """One cached step of a grid. `meta` says how to run it (a generator's name, a validated TrainConfig),
    not what it produces: it is not part of the key. Two stages are the same stage when their keys are."""

    kind: ClassVar[str]
    rank: ClassVar[int]  # place in the pipeline: a stage's upstream kinds rank lower
    Outputs: ClassVar[type[StageOutputs]] = StageOutputs

    spec: SpecT
    meta: MetaT
    deps: tuple[Stage[Any, Any], ...] = ()

    @cached_property
    def key(self) -> str:
        blob = json.dumps({"kind": self.kind, "spec": self.spec.as_json(), "deps": [d.key for d in self.deps]},
                          sort_keys=True, default=str)
        return hashlib.sha256(blob.encode()).hexdigest()[:16]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Stage) and other.key == self.key

    def __hash__(self) -> int:
        return hash(self.key)

    def dir(self, out: str | Path) -> Path:
        return Path(out) / "stages" / self.kind / self.key

    def dep(self, kind: type[StageT]) -> StageT:
        """The (first) upstream stage of a kind."""
        for d in self.deps:
            if isinstance(d, kind):
                return d
        raise KeyError(f"{self.kind} stage has no {kind.kind} dependency")

    def deps_of(self, kind: type[StageT]) -> list[StageT]:
        return [d for d in self.deps if isinstance(d, kind)]

    @classmethod
    def spec_model(cls) -> type[StageSpec]:
        """The kind's Spec model (its first type argument)."""
        for base in getattr(cls, "__orig_bases__", ()):
            args = get_args(base)
            if args and isinstance(args[0], type) and issubclass(args[0], StageSpec):
                return args[0]
        raise TypeError(f"{cls.__name__} does not name its Spec model")

    # ---- what each kind implements ----------------------------------------------------------------
    def run(self, ctx: RunContext) -> StageOutputs:
        raise NotImplementedError

    def resources(self, cfg: ExperimentConfig) -> Resources:
        """One task on one CPU unless the kind says otherwise."""
        return Resources()

    def estimate(self, cfg: ExperimentConfig, out: Path) -> StageEstimate:
        return StageEstimate(self.kind, self.key, self.kind, seconds=SMALL_STAGE_S, basis="small")

    # ---- the marker -------------------------------------------------------------------------------
    def outputs(self, out: Path) -> StageOutputs | None:
        """The typed outputs of a finished stage, or None when it has not finished."""
        m = read_marker(self, out)
        return None if m is None else self.Outputs.model_validate(m.outputs)


AnyStage = Stage[Any, Any]


def is_done(stage: AnyStage, out: Path) -> bool:
    return (stage.dir(out) / MARKER).is_file()


def read_marker(stage: AnyStage, out: Path) -> Marker | None:
    p = stage.dir(out) / MARKER
    if not p.is_file():
        return None
    return Marker.model_validate_json(p.read_text(encoding="utf-8"))


def run_stage(stage: AnyStage, cfg: ExperimentConfig, out: Path, log: Log = _log.info) -> Marker:
    """Run a stage whose dependencies are done; returns its marker."""
    d = stage.dir(out)
    d.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    outputs = stage.run(RunContext(cfg, out, d, log))
    marker = Marker(kind=stage.kind, key=stage.key, spec=stage.spec.as_json(),
                    deps=[[dep.kind, dep.key] for dep in stage.deps], outputs=outputs.as_json(),
                    seconds=round(time.perf_counter() - started, 3),
                    finished_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    atomic_write_json(d / MARKER, marker.model_dump(mode="json"), strict=True)
    return marker


def markers_of_kind(out: Path, kind: str) -> list[Marker]:
    """Every readable marker of one kind in a grid's output folder (what --dry-run measures from)."""
    found = []
    for p in sorted((out / "stages" / kind).glob(f"*/{MARKER}")):
        try:
            found.append(Marker.model_validate_json(p.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue
    return found


@dataclass
class KindRegistry:
    """Every stage kind by name; `names()` in pipeline order (by rank), what unique_stages sorts by."""

    kinds: dict[str, type[AnyStage]] = field(default_factory=dict)

    def register(self, cls: type[StageT]) -> type[StageT]:
        if cls.kind in self.kinds:
            raise RuntimeError(f"two stage classes for kind {cls.kind!r}")
        self.kinds[cls.kind] = cls
        return cls

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self.kinds, key=lambda k: self.kinds[k].rank))


KINDS = KindRegistry()
