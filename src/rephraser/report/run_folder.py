"""Read what a report or a dataset card needs from a run output folder (layout in README "Output folder").

Two passes keep memory flat on large outputs: `scan_rows` reads only the light columns of every row
(counts, tokens, licenses); `read_rows` then fetches the heavy text columns for a chosen few rows only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from rephraser.errors import RephraserError
from rephraser.records import FATE_DIRS, ROW_COLUMNS

# Folder of each fate, in the order reports list them.

LIGHT_COLUMNS: tuple[str, ...] = (
    "id", "sample", "prompt", "prompt_hash", "model", "engine", "status", "reason", "finish_reason",
    "prompt_tokens", "completion_tokens", "source_metadata", "sampling", "input_truncated",
)


class ReportError(RephraserError):
    """The folder is not a readable rephraser output folder."""


@dataclass(frozen=True)
class RowRef:
    """Where one row lives: enough to read its text columns later."""

    file: Path
    index: int


@dataclass
class RunFolder:
    path: Path
    config: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    files: dict[str, list[Path]] = field(default_factory=dict)  # fate -> parquet files

    @property
    def prompts(self) -> list[str]:
        """Prompt names with any rows, plus configured prompts (an empty prompt is still reported)."""
        names = {f.parent.name for fs in self.files.values() for f in fs}
        for ref in self.config.get("prompts") or []:
            names.add(Path(str(ref)).stem)
        return sorted(names)

    def all_files(self) -> Iterator[tuple[str, Path]]:
        for fate, fs in self.files.items():
            for f in fs:
                yield fate, f


def open_run(out_dir: str | Path) -> RunFolder:
    """Validate the folder and load its config.yaml and stats.json (both optional but parsed if present)."""
    path = Path(out_dir)
    if not path.exists():
        raise ReportError(f"output folder not found: {path}")
    if not path.is_dir():
        raise ReportError(f"not a folder: {path}")
    run = RunFolder(path=path)
    for fate, sub in FATE_DIRS.items():
        run.files[fate] = sorted((path / sub).glob("*/*.parquet"))
    has_rows = any(run.files.values())
    cfg_file, stats_file = path / "config.yaml", path / "stats.json"
    if not has_rows and not cfg_file.exists():
        raise ReportError(f"{path} is not a rephraser output folder (no config.yaml, no data/*/*.parquet)")
    if cfg_file.exists():
        try:
            loaded = yaml.safe_load(cfg_file.read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
            raise ReportError(f"cannot read {cfg_file}: {str(e).splitlines()[0]}") from None
        if not isinstance(loaded, dict):
            raise ReportError(f"{cfg_file} must be a mapping")
        run.config = loaded
    if stats_file.exists():
        try:
            loaded = json.loads(stats_file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ReportError(f"cannot read {stats_file}: {str(e).splitlines()[0]}") from None
        run.stats = loaded if isinstance(loaded, dict) else {}
    return run


def _read(file: Path, columns: Iterable[str]) -> pa.Table:
    try:
        schema_names = set(pq.read_schema(file).names)
        wanted = [c for c in columns if c in schema_names]
        return pq.read_table(file, columns=wanted)
    except (OSError, pa.ArrowException) as e:
        raise ReportError(f"cannot read {file}: {str(e).splitlines()[0]}") from None


def scan_rows(run: RunFolder, columns: Iterable[str] = LIGHT_COLUMNS) -> Iterator[tuple[RowRef, dict[str, Any]]]:
    """Every row's light columns, with a reference for fetching its text later."""
    cols = [c for c in columns if c in ROW_COLUMNS]
    for _fate, f in run.all_files():
        table = _read(f, cols)
        for i, row in enumerate(table.to_pylist()):
            yield RowRef(f, i), row


def read_rows(refs: Iterable[RowRef], columns: Iterable[str] = ROW_COLUMNS) -> dict[RowRef, dict[str, Any]]:
    """Full rows for the given references, reading each file once."""
    by_file: dict[Path, list[int]] = {}
    for r in refs:
        by_file.setdefault(r.file, []).append(r.index)
    out: dict[RowRef, dict[str, Any]] = {}
    cols = list(columns)
    for f, indices in by_file.items():
        wanted = sorted(set(indices))
        table = _read(f, cols).take(pa.array(wanted, type=pa.int64()))
        for idx, row in zip(wanted, table.to_pylist(), strict=True):
            out[RowRef(f, idx)] = row
    return out


def parse_json_object(text: str | None) -> dict[str, Any]:
    """A JSON-object column value; anything unparsable becomes {} (the row is still shown)."""
    if not text:
        return {}
    try:
        value = json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return {}
    return value if isinstance(value, dict) else {}

