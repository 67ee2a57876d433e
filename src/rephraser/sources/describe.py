"""One-line descriptions of a source for the run summary, without reading any records."""

from __future__ import annotations

from rephraser.config import SourceConfig
from rephraser.sources.files import is_wiki, list_files
from rephraser.sources.wiki import wiki_size


def count_source_files(cfg: SourceConfig) -> int:
    """How many input files the source reads (the embedded wiki source is one file)."""
    if is_wiki(cfg):
        return 1
    return len(list_files(cfg).files)


def describe_source(cfg: SourceConfig) -> str:
    """e.g. "wiki (10,033 docs embedded)" or "3 files, jsonl" or "2 files, jsonl+parquet"."""
    if is_wiki(cfg):
        return f"wiki ({wiki_size():,} docs embedded)"
    listing = list_files(cfg)
    n = len(listing.files)
    kinds = "+".join(sorted({f.kind for f in listing.files}))
    line = f"{n:,} file{'s' if n != 1 else ''}, {kinds}"
    if listing.ignored:
        line += f" ({listing.ignored:,} other file{'s' if listing.ignored != 1 else ''} ignored)"
    return line
