"""JSON Lines files (plain, .gz, .zst): each line decoded and parsed on its own.

A bad line (invalid UTF-8, malformed JSON, a value that is not an object) is rejected with its line
number and reading goes on, so one corrupt line never costs the rest of the file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from rephraser.errors import SourceError
from rephraser.sources.files import SourceFile
from rephraser.sources.lines import iter_lines
from rephraser.sources.validate import Checked, Columns, check_record, kind_name, line_rejection

SNIFF_LINES = 20


def read_jsonl(src: SourceFile, cols: Columns, max_chars: int) -> Iterator[Checked]:
    """Checked records of one file. If none of its first SNIFF_LINES records is a JSON object, the
    file is not JSONL at all (a CSV, a pretty-printed JSON array...): one SourceError, not a
    rejection per line."""
    held: list[Checked] = []
    sniffing = True
    for checked, is_object in _records(src, cols, max_chars):
        if not sniffing:
            yield checked
            continue
        held.append(checked)
        if is_object:
            sniffing = False
            yield from held
            held.clear()
        elif len(held) >= SNIFF_LINES:
            break
    if sniffing and held:
        first = held[0].item
        raise SourceError(
            f"{src.path} is not a JSONL file: none of its first {len(held)} line(s) is a JSON object "
            f"(line {first.origin.rsplit(':', 1)[1]}: {getattr(first, 'reason', '')})"
        )


def _records(src: SourceFile, cols: Columns, max_chars: int) -> Iterator[tuple[Checked, bool]]:
    first = True
    shown = src.shown
    for lineno, raw in iter_lines(src.path):
        if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]  # UTF-8 byte order mark written by some editors
        if not raw.strip():
            continue  # a blank line is not a record (trailing newlines, spacing)
        if first and raw.strip() in (b"[", b"{"):
            raise SourceError(
                f"{src.path} looks like one pretty-printed JSON document, not JSON lines "
                f"(line {lineno} is {raw.strip().decode()!r}); write one JSON object per line"
            )
        first = False
        origin = f"{shown}:{lineno}"
        fallback_id = f"{src.name}:{lineno}"
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            yield line_rejection(f"invalid UTF-8 at byte {e.start}", origin, fallback_id), False
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as e:
            yield line_rejection(f"malformed JSON: {e.msg} (column {e.colno})", origin, fallback_id), False
            continue
        except RecursionError:
            yield line_rejection("malformed JSON: nested too deeply", origin, fallback_id), False
            continue
        if not isinstance(value, dict):
            reason = f"JSON value is not an object (got {kind_name(value)})"
            yield line_rejection(reason, origin, fallback_id), False
            continue
        yield check_record(value, cols, max_chars, origin, fallback_id), True
