"""The one row schema every stage reads and writes.

A row carries its whole lineage (source document, prompt name + hash, model, engine, sampling) so no
stage ever needs to look anything up later. Files are plain Parquet: they load with pyarrow and with
`datasets.load_dataset("parquet", data_files=...)`. Nested values are Arrow structs a `datasets` user can
filter without parsing: `sampling` has one fixed struct type (a null field = not sent), `source_metadata`
a struct whose fields are the source's metadata keys (typed per file from its rows; a key whose values
disagree in type is kept as JSON text). Files written before this release hold both as JSON strings;
every reader goes through `metadata_dict` / `sampling_dict`, which accept either form (the one-release
compatibility path), and `rows_to_table` accepts either form when writing.
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


def document_record(doc: Document) -> dict[str, Any]:
    """A document as a JSONL record that reads back as the same document (id, text, the same metadata):
    metadata keys at the top level, so they reach the rows' source_metadata as they are (licence and
    attribution included). A key that would shadow id or text stays under `meta`. Used where a stage hands
    documents on as a file (a grid's source split, `try`'s sample)."""
    record: dict[str, Any] = {"id": doc.id, "text": doc.text}
    for key, value in doc.metadata.items():
        if key in record or key == "meta":
            record.setdefault("meta", {})[key] = value
        else:
            record[key] = value
    return record


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]


# The sampling parameters a row's calls were sent with (engines/base.Sampling); null = not sent.
SAMPLING_TYPE = pa.struct([
    pa.field("temperature", pa.float64()), pa.field("top_p", pa.float64()), pa.field("top_k", pa.int64()),
    pa.field("max_tokens", pa.int64()), pa.field("seed", pa.int64()), pa.field("repetition_penalty", pa.float64()),
])
# source_metadata's type depends on the source's keys (metadata_type); this placeholder is the type of a
# file whose rows carry no metadata at all (Parquet cannot store a struct without fields).
NO_METADATA_TYPE = pa.null()

# Column order is the documented order (README "Outputs", row schema).
ROW_SCHEMA = pa.schema(
    [
        pa.field("id", pa.string(), nullable=False),  # source document id
        pa.field("sample", pa.int32(), nullable=False),  # sample index when n > 1, else 0
        pa.field("source_text", pa.string()),
        pa.field("source_metadata", NO_METADATA_TYPE),  # struct of the source's metadata keys (per file)
        pa.field("source_origin", pa.string()),  # file:line of the record
        pa.field("prompt", pa.string(), nullable=False),
        pa.field("prompt_family", pa.string()),
        pa.field("prompt_version", pa.string()),
        pa.field("prompt_hash", pa.string()),
        pa.field("model", pa.string()),
        pa.field("engine", pa.string()),
        pa.field("sampling", SAMPLING_TYPE),  # the sampling parameters actually sent
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
        # document routing (route_config.py): the route that gave this row's prompt, and the facts that decided
        # it as a struct (e.g. {numbers: 4, score.edu: 2.7}; typed per file like source_metadata, JSON text in
        # files of the previous release); null in runs without routes
        pa.field("route", pa.string()),
        pa.field("route_values", NO_METADATA_TYPE),
    ]
)
ROW_COLUMNS: tuple[str, ...] = tuple(ROW_SCHEMA.names)
# Columns added after the first release: files written before them read as nulls, not as errors.
OPTIONAL_COLUMNS: frozenset[str] = frozenset(
    {"constraint", "invented_numbers", "invented_entities", "content_recall", "novelty_3gram", "route", "route_values"})
FAITHFULNESS_COLUMNS: tuple[str, ...] = ("invented_numbers", "invented_entities", "content_recall", "novelty_3gram")


@dataclass
class Row:
    id: str
    prompt: str
    status: Status
    sample: int = 0
    source_text: str | None = None
    source_metadata: dict[str, Any] | str | None = None  # a dict (a JSON string is accepted: older files)
    source_origin: str | None = None
    prompt_family: str | None = None
    prompt_version: str | None = None
    prompt_hash: str | None = None
    model: str | None = None
    engine: str | None = None
    sampling: dict[str, Any] | str | None = None
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
    route: str | None = None
    route_values: dict[str, Any] | str | None = None  # a dict (JSON text accepted, as the router gives it)


def dumps_json(value: Any) -> str:
    """Canonical JSON (sorted keys, no spaces): stable bytes for hashing and byte-identical rows."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def loads_json_object(value: Any) -> dict[str, Any]:
    """A JSON-object column value (source_metadata, sampling) as a dict, from either form: a struct (read as a
    dict; null fields dropped, as they mean 'absent') or a JSON string (files of earlier releases); anything
    unparsable becomes {}."""
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if v is not None}
    if not value:
        return {}
    try:
        parsed = json.loads(value)
    except (json.JSONDecodeError, TypeError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


metadata_dict = loads_json_object  # the names readers use for the two columns
sampling_dict = loads_json_object


def source_license(meta: dict[str, Any]) -> Any:
    """The licence a row's source metadata names; also under `meta`, where grids before this release nested
    the source's metadata (their source stage wrote {"id", "text", "meta"})."""
    nested = meta.get("meta")
    return meta.get("license") or (nested.get("license") if isinstance(nested, dict) else None)


def source_attribution(meta: dict[str, Any]) -> Any:
    nested = meta.get("meta")
    return meta.get("attribution") or (nested.get("attribution") if isinstance(nested, dict) else None)


def _key_type(values: list[Any]) -> tuple[pa.DataType, list[Any]]:
    """The Arrow type of one metadata key over a file's rows, and the values to store: inferred when the
    values agree; JSON text when they do not (e.g. a year given as 1999 in one record and "1999" in the next),
    so no value is lost and the file's schema stays writable."""
    try:
        inferred = pa.array(values).type
        if _writable(inferred):
            return inferred, values
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        pass
    return pa.string(), [v if v is None or isinstance(v, str) else dumps_json(v) for v in values]


def _writable(t: pa.DataType) -> bool:
    """Parquet stores neither a null-typed field inside a struct reliably nor a struct without fields."""
    if pa.types.is_struct(t):
        return t.num_fields > 0 and all(_writable(t.field(i).type) for i in range(t.num_fields))
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _writable(t.value_type)
    return not pa.types.is_null(t)


def metadata_array(values: list[Any]) -> pa.Array:
    """The source_metadata column of one file: a struct of the union of its rows' keys (sorted, so files of one
    source get one type), or an all-null column when no row has metadata."""
    dicts = [loads_json_object(v) if isinstance(v, str) else (v if isinstance(v, dict) else None) for v in values]
    keys = sorted({k for d in dicts if d for k in d})
    if not keys:
        return pa.nulls(len(values), NO_METADATA_TYPE)
    fields, children = [], []
    for k in keys:
        t, column = _key_type([d.get(k) if d else None for d in dicts])
        fields.append(pa.field(k, t))
        children.append(pa.array(column, type=t))
    mask = pa.array([d is None for d in dicts], type=pa.bool_())
    return pa.StructArray.from_arrays(children, fields=fields, mask=mask if any(d is None for d in dicts) else None)


def sampling_array(values: list[Any]) -> pa.Array:
    dicts = [loads_json_object(v) if isinstance(v, str) else v for v in values]
    return pa.array(dicts, type=SAMPLING_TYPE)


# Free-form objects stored as structs typed per file (metadata_array): their ROW_SCHEMA type is a placeholder.
FREE_STRUCT_COLUMNS: tuple[str, ...] = ("source_metadata", "route_values")


def row_schema(metadata_type: pa.DataType = NO_METADATA_TYPE, route_type: pa.DataType = NO_METADATA_TYPE) -> pa.Schema:
    """ROW_SCHEMA with one file's source_metadata and route_values types."""
    schema = ROW_SCHEMA
    for name, t in (("source_metadata", metadata_type), ("route_values", route_type)):
        schema = schema.set(schema.get_field_index(name), pa.field(name, t))
    return schema


def rows_to_table(rows: list[Row]) -> pa.Table:
    # Attribute access, not dataclasses.asdict: asdict deep-copies every value and dominated commit time.
    return dicts_to_table({name: [getattr(r, name) for r in rows] for name in ROW_COLUMNS})


def dicts_to_table(columns: dict[str, list[Any]] | list[dict[str, Any]]) -> pa.Table:
    """A row table from columns (name -> values) or row dicts; metadata and sampling may be dicts or the JSON
    strings of earlier files (both are written as structs)."""
    if isinstance(columns, list):
        rows = columns
        columns = {name: [r.get(name) for r in rows] for name in ROW_COLUMNS}
    arrays: dict[str, pa.Array] = {}
    for name in ROW_COLUMNS:
        values = columns[name]
        if name in FREE_STRUCT_COLUMNS:
            arrays[name] = metadata_array(values)
        elif name == "sampling":
            arrays[name] = sampling_array(values)
        else:
            arrays[name] = pa.array(values, type=ROW_SCHEMA.field(name).type)
    return pa.table(arrays, schema=row_schema(arrays["source_metadata"].type, arrays["route_values"].type))


def table_to_rows(table: pa.Table) -> list[Row]:
    return [Row(**{k: d.get(k) for k in ROW_COLUMNS}) for d in table.to_pylist()]

