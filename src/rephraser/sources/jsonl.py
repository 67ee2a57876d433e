"""JSON Lines files (plain, .gz, .zst): each line decoded and parsed on its own.

A bad line (invalid UTF-8, malformed JSON, a value that is not an object) is rejected with its line
number and reading goes on, so one corrupt line never costs the rest of the file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from rephraser.sources.files import SourceFile
from rephraser.sources.lines import iter_lines
from rephraser.sources.validate import Checked, Columns, check_record, kind_name, line_rejection


def read_jsonl(src: SourceFile, cols: Columns, max_chars: int) -> Iterator[Checked]:
    for lineno, raw in iter_lines(src.path):
        if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]  # UTF-8 byte order mark written by some editors
        if not raw.strip():
            continue  # a blank line is not a record (trailing newlines, spacing)
        origin = f"{src.path}:{lineno}"
        fallback_id = f"{src.name}:{lineno}"
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            yield line_rejection(f"invalid UTF-8 at byte {e.start}", origin, fallback_id)
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as e:
            yield line_rejection(f"malformed JSON: {e.msg} (column {e.colno})", origin, fallback_id)
            continue
        except RecursionError:
            yield line_rejection("malformed JSON: nested too deeply", origin, fallback_id)
            continue
        if not isinstance(value, dict):
            yield line_rejection(f"JSON value is not an object (got {kind_name(value)})", origin, fallback_id)
            continue
        yield check_record(value, cols, max_chars, origin, fallback_id)
