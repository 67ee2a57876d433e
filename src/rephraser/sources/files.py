"""Turn `source.path` into the ordered list of files to read.

A folder is walked recursively and its files are sorted by relative path, so the same folder always
yields the same order on every machine. Names starting with "." or "_" are skipped (the convention
pyarrow and Spark use for `_SUCCESS`, `_metadata`, `.cache/`), and so are files whose extension is
not a known data format; they are counted so the run summary can say so. Remote URLs (s3://, gs://,
hf://, https://) are listed through `rephraser.storage` with the same rules. A path holding a glob
(`hf://datasets/org/name/sample/10BT/*.parquet`) or `source.data_files` selects files by pattern; a
Hugging Face dataset folder or repo (save_to_disk, README `configs:`) yields the files of the chosen
config and split (hf_layout.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rephraser import storage
from rephraser.config import SourceConfig
from rephraser.errors import SourceError
from rephraser.sources import hf_layout
from rephraser.storage import Location, Url

Kind = Literal["jsonl", "parquet", "arrow"]

# Longest suffixes first so "x.jsonl.gz" is not taken for a plain ".gz".
_JSONL_SUFFIXES = tuple(
    base + comp for base in (".jsonl", ".json", ".ndjson") for comp in (".gz", ".zst", ".zstd", "")
)
_PARQUET_SUFFIXES = (".parquet", ".pq")
_ARROW_SUFFIXES = (".arrow",)
KNOWN_SUFFIXES = ", ".join((".jsonl", ".json", ".ndjson", "(+ .gz/.zst)", *_PARQUET_SUFFIXES, *_ARROW_SUFFIXES))


def printable(path: object) -> str:
    """A file name that is safe to store: bytes that are not UTF-8 (kept by Python as lone surrogates,
    which Parquet and JSON refuse) are written as \\xNN escapes."""
    return os.fsencode(str(path)).decode("utf-8", "backslashreplace")


@dataclass(frozen=True)
class SourceFile:
    path: Location  # as given / found (a Path, or a Url for remote input): what is opened
    name: str  # printable path relative to the source root (the basename for a single file): stable ids
    kind: Kind

    @property
    def shown(self) -> str:
        """The printable path, for origins (lineage) and messages."""
        return printable(self.path)


@dataclass(frozen=True)
class FileList:
    files: list[SourceFile]
    ignored: int  # files in a folder that were skipped because their format is unknown


def is_wiki(cfg: SourceConfig) -> bool:
    """format "wiki", or format "auto" with path None / "wiki", selects the embedded extracts."""
    if cfg.format == "wiki":
        if cfg.path not in (None, "wiki"):
            raise SourceError(
                f"source.format 'wiki' is the embedded source and takes no path (got {cfg.path!r})"
            )
        return True
    return cfg.format == "auto" and cfg.path in (None, "wiki")


def kind_from_name(name: str) -> Kind | None:
    low = name.lower()
    if low.endswith(_PARQUET_SUFFIXES):
        return "parquet"
    if low.endswith(_ARROW_SUFFIXES):
        return "arrow"
    if low.endswith(_JSONL_SUFFIXES):
        return "jsonl"
    return None


def list_files(cfg: SourceConfig) -> FileList:
    """The files of a path source, in reading order. Raises SourceError when nothing can be read."""
    if cfg.path is None:
        raise SourceError(f"source.format {cfg.format!r} needs source.path")
    base, pattern = hf_layout.split_glob(cfg.path)
    root = storage.as_location(base)
    wanted: Kind | None = None if cfg.format == "auto" else cfg.format  # type: ignore[assignment]
    patterns = [pattern] if pattern else cfg.data_files
    if patterns:
        found = hf_layout.glob_names(root, patterns)
        if not found:
            raise SourceError(f"no file matches {', '.join(patterns)} in {root}")
        return _named(root, found, wanted)
    try:
        is_dir = storage.is_dir(root)
        exists = is_dir or storage.exists(root)
    except OSError as e:
        raise SourceError(f"cannot read source {root}: {e.strerror or e}") from None
    if not exists:
        raise SourceError(f"source path not found: {root}")
    if not is_dir:
        kind = wanted or kind_from_name(root.name)
        if kind is None:
            raise SourceError(
                f"cannot tell the format of {root} from its name (known: {KNOWN_SUFFIXES}); "
                "set source.format to jsonl or parquet"
            )
        return FileList([SourceFile(root, printable(root.name), kind)], ignored=0)
    chosen = hf_layout.dataset_files(root, cfg)
    if chosen is not None:
        return _named(root, chosen, wanted)
    return _walk(root, wanted) if isinstance(root, Path) else _walk_remote(root, wanted)


def _named(root: Location, names: list[str], wanted: Kind | None) -> FileList:
    """Chosen files (globbed or listed by a dataset layout): known formats only, hidden names skipped."""
    found: list[SourceFile] = []
    ignored = 0
    for name in names:
        if any(part.startswith((".", "_")) for part in name.split("/")):
            continue
        kind = kind_from_name(name)
        if kind is None or (wanted is not None and kind != wanted):
            ignored += 1
            continue
        found.append(SourceFile(root / name, printable(name), kind))
    return _listed(found, ignored, root, wanted)


def _walk_remote(root: Url, wanted: Kind | None) -> FileList:
    return _named(root, storage.find(root), wanted)


def _walk(root: Path, wanted: Kind | None) -> FileList:
    def fail(err: OSError) -> None:
        raise SourceError(f"cannot list folder {err.filename or root}: {err.strerror or err}")

    found: list[SourceFile] = []
    ignored = 0
    for dirpath, dirnames, filenames in os.walk(root, onerror=fail):
        dirnames[:] = [d for d in dirnames if not d.startswith((".", "_"))]
        for fname in filenames:
            if fname.startswith((".", "_")):
                continue
            kind = kind_from_name(fname)
            if kind is None or (wanted is not None and kind != wanted):
                ignored += 1
                continue
            path = Path(dirpath) / fname
            found.append(SourceFile(path, printable(path.relative_to(root).as_posix()), kind))
    return _listed(found, ignored, root, wanted)


def _listed(found: list[SourceFile], ignored: int, root: Location, wanted: Kind | None) -> FileList:
    if not found:
        what = f"{wanted} files" if wanted else f"data files ({KNOWN_SUFFIXES})"
        extra = f"; {ignored} other file(s) ignored" if ignored else ""
        raise SourceError(f"empty folder: no {what} in {root}{extra}")
    found.sort(key=lambda f: f.name)
    return FileList(found, ignored)
