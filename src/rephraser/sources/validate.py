"""One raw record (a dict from a JSONL line or a Parquet row) -> Document or Rejection.

Every problem with a single record becomes a Rejection with a fixed, human-readable reason; nothing
here raises. The reasons are part of the output format (they land in `rejected/` rows), so tests pin
them exactly.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import hashlib
import math
import uuid
from dataclasses import dataclass
from typing import Any, Literal

from rephraser.records import Document, Rejection

IdKind = Literal["explicit", "generated"]


@dataclass(frozen=True)
class Columns:
    """Which keys of a record hold the text, the id and the metadata."""

    text: str
    id: str | None
    metadata: list[str] | None  # None = every other key


@dataclass(frozen=True)
class Checked:
    item: Document | Rejection
    id_kind: IdKind | None  # None when item.id is a positional fallback id (no usable id)
    fallback_id: str  # "name:line" / "name#row": unique and stable; names records whose id is unusable


def kind_name(value: Any) -> str:
    """JSON-style type name for messages ("number", "array", ...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float, decimal.Decimal)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, (bytes, bytearray)):
        return "bytes"
    return type(value).__name__


def generated_id(text: str) -> str:
    return "sha-" + hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def too_long_reason(n: int, max_chars: int) -> str:
    return f"document too long: {n:,} chars > max_chars {max_chars:,}"


def _has_lone_surrogate(s: str) -> bool:
    # JSON "\ud800" escapes decode to lone surrogates, which cannot be written as UTF-8 later.
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _clean_str(s: str) -> str:
    return s.encode("utf-8", "replace").decode("utf-8") if _has_lone_surrogate(s) else s


def json_safe(value: Any) -> Any:
    """Make a value JSON-serialisable without losing it: bytes, dates, decimals... become strings."""
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)  # NaN/inf are not valid JSON
    if isinstance(value, str):
        return _clean_str(value)
    if isinstance(value, dict):
        return {_clean_str(str(k)): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return [json_safe(v) for v in items]
    if isinstance(value, (bytes, bytearray, memoryview)):
        raw = bytes(value)
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError:
            return "base64:" + base64.b64encode(raw).decode("ascii")
    if isinstance(value, (dt.date, dt.time)):  # datetime is a date
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, (decimal.Decimal, uuid.UUID)):
        return str(value)
    return str(value)


def _metadata(values: dict[str, Any], cols: Columns) -> dict[str, Any]:
    if cols.metadata is not None:
        keys = [k for k in cols.metadata if k in values]
    else:
        keys = [k for k in values if k not in (cols.text, cols.id)]
    return {k: json_safe(values[k]) for k in keys}


def _id_problem(raw: Any) -> str | None:
    if raw is None:
        return "id is null"
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        return f"id must be a string or integer (got {kind_name(raw)})"
    if isinstance(raw, float) and not (math.isfinite(raw) and raw.is_integer()):
        return f"id must be a string or integer (got number {raw!r})"
    if isinstance(raw, str):
        if not raw.strip():
            return "empty id"
        if _has_lone_surrogate(raw):
            return "id contains invalid unicode (lone surrogate)"
    return None


def _id_str(raw: str | int | float) -> str:
    # Floats reach here only when integral: pandas stores int ids with nulls as float64.
    return str(int(raw)) if isinstance(raw, float) else str(raw)


def _text_problem(values: dict[str, Any], cols: Columns, max_chars: int) -> str | None:
    if cols.text not in values:
        return f"missing text column '{cols.text}'"
    text = values[cols.text]
    if text is None:
        return "text is null"
    if not isinstance(text, str):
        return f"text is not a string (got {kind_name(text)})"
    if not text:
        return "empty text"
    if not text.strip():
        return "whitespace-only text"
    if len(text) > max_chars:
        return too_long_reason(len(text), max_chars)
    if _has_lone_surrogate(text):
        return "text contains invalid unicode (lone surrogate)"
    return None


def check_record(
    values: dict[str, Any], cols: Columns, max_chars: int, origin: str, fallback_id: str
) -> Checked:
    """Validate one record. `fallback_id` ("name:line") names records that have no usable id."""
    metadata = _metadata(values, cols)
    id_kind: IdKind | None = None
    doc_id = fallback_id
    if cols.id is not None and cols.id in values:
        problem = _id_problem(values[cols.id])
        if problem is not None:
            text = values.get(cols.text)
            keep = _clean_str(text) if isinstance(text, str) and len(text) <= max_chars else None
            return Checked(Rejection(fallback_id, problem, origin, keep, metadata), None, fallback_id)
        doc_id, id_kind = _id_str(values[cols.id]), "explicit"

    problem = _text_problem(values, cols, max_chars)
    if problem is not None:
        text = values.get(cols.text)
        # Keep the text for inspection unless it is the problem (too long / not text at all).
        keep = _clean_str(text) if isinstance(text, str) and len(text) <= max_chars else None
        return Checked(Rejection(doc_id, problem, origin, keep, metadata), id_kind, fallback_id)

    text = values[cols.text]
    if id_kind is None:
        doc_id, id_kind = generated_id(text), "generated"
    return Checked(Document(doc_id, text, metadata, origin), id_kind, fallback_id)


def line_rejection(reason: str, origin: str, fallback_id: str) -> Checked:
    """A JSONL line that is not a record at all (bad UTF-8, bad JSON, not an object)."""
    return Checked(Rejection(fallback_id, reason, origin), None, fallback_id)
