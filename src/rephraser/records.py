"""The one row schema every stage reads and writes.

A row carries its whole lineage (source document, prompt name + hash, model, engine, sampling) so no
stage ever needs to look anything up later. Files are plain Parquet: they load with pyarrow and with
`datasets.load_dataset("parquet", data_files=...)`. Nested, free-form values (source metadata,
sampling parameters) are stored as JSON strings so the schema never changes between shards.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

import pyarrow as pa

Status = Literal["ok", "rejected", "failed"]
# Where each fate lives in an output folder (data/ is what training uses; HF layout: data/<prompt>/).
FATE_DIRS: dict[str, str] = {"ok": "data", "rejected": "rejected", "failed": "dead_letter"}


@dataclass(frozen=True)
class Document:
    """One input document after validation."""

    id: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    origin: str = ""  # "file:line" or "file#row", for messages

    @property
    def text_hash(self) -> str:
        return text_hash(self.text)


@dataclass(frozen=True)
class Rejection:
    """An input record that could not become a Document, and why."""

    id: str
    reason: str
    origin: str
    text: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


# Column order is the documented order (README "Outputs", row schema).
ROW_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),  # source document id
        pa.field("sample", pa.int32(), nullable=False),  # sample index when n > 1, else 0
        pa.field("source_text", pa.string()),
        pa.field("source_metadata", pa.string()),  # JSON object
        pa.field("source_origin", pa.string()),  # file:line of the record
        pa.field("prompt", pa.string(), nullable=False),
        pa.field("prompt_family", pa.string()),
        pa.field("prompt_version", pa.string()),
        pa.field("prompt_hash", pa.string()),
        pa.field("model", pa.string()),
        pa.field("engine", pa.string()),
        pa.field("sampling", pa.string()),  # JSON object of the sampling parameters actually sent
        pa.field("rollout", pa.string()),  # single | samples | chunked
        pa.field("generation", pa.string()),  # cleaned text (what training uses)
        pa.field("raw_generation", pa.string()),  # model output before post-processing
        pa.field("finish_reason", pa.string()),
        pa.field("prompt_tokens", pa.int64()),
        pa.field("completion_tokens", pa.int64()),
        pa.field("calls", pa.int32()),  # model calls made for this row (chunks, retries excluded)
        pa.field("input_truncated", pa.bool_()),
        pa.field("input_chars_used", pa.int64()),
        pa.field("status", pa.string(), nullable=False),  # ok | rejected | failed
        pa.field("reason", pa.string()),  # why rejected / the last error when failed
        pa.field("attempts", pa.int32()),
        pa.field("constraint", pa.string()),  # structure enforced while decoding: gbnf | lark | regex | json_schema
        # faithfulness of `generation` to `source_text` (postprocess/faithfulness.py); null without a generation
        pa.field("invented_numbers", pa.int32()),  # distinct numbers absent from the source
        pa.field("invented_entities", pa.int32()),  # distinct capitalised spans absent from the source
        pa.field("content_recall", pa.float64()),  # share of the source's content words kept
        pa.field("novelty_3gram", pa.float64()),  # share of output word 3-grams not in the source
    ]
)
ROW_COLUMNS: tuple[str, ...] = tuple(ROW_SCHEMA.names)
# Columns added after the first release: files written before them read as nulls, not as errors.
OPTIONAL_COLUMNS: frozenset[str] = frozenset(
    {"constraint", "invented_numbers", "invented_entities", "content_recall", "novelty_3gram"})
FAITHFULNESS_COLUMNS: tuple[str, ...] = ("invented_numbers", "invented_entities", "content_recall", "novelty_3gram")


@dataclass
class Row:
    id: str
    prompt: str
    status: Status
    sample: int = 0
    source_text: str | None = None
    source_metadata: str | None = None
    source_origin: str | None = None
    prompt_family: str | None = None
    prompt_version: str | None = None
    prompt_hash: str | None = None
    model: str | None = None
    engine: str | None = None
    sampling: str | None = None
    rollout: str | None = None
    generation: str | None = None
    raw_generation: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    calls: int | None = None
    input_truncated: bool | None = None
    input_chars_used: int | None = None
    reason: str | None = None
    attempts: int | None = None
    constraint: str | None = None
    invented_numbers: int | None = None
    invented_entities: int | None = None
    content_recall: float | None = None
    novelty_3gram: float | None = None


def dumps_json(value: Any) -> str:
    """Canonical JSON (sorted keys, no spaces): stable bytes for hashing and byte-identical rows."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def loads_json_object(text: str | None) -> dict[str, Any]:
    """A JSON-object column value (source_metadata, sampling); anything unparsable becomes {}."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return {}
    return value if isinstance(value, dict) else {}


def rows_to_table(rows: list[Row]) -> pa.Table:
    # Attribute access, not dataclasses.asdict: asdict deep-copies every value and dominated commit time.
    cols = {name: [getattr(r, name) for r in rows] for name in ROW_COLUMNS}
    return pa.table(cols, schema=ROW_SCHEMA)


def table_to_rows(table: pa.Table) -> list[Row]:
    return [Row(**{k: d.get(k) for k in ROW_COLUMNS}) for d in table.to_pylist()]
