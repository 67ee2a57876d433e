"""Count an input's records cheaply (no validation): Parquet footers, Arrow batch headers, non-blank JSONL
lines, the wiki size.

Used by `rephraser plan`, grid estimates and the progress bar's total.
"""

from __future__ import annotations

from rephraser.config import SourceConfig
from rephraser.errors import SourceError
from rephraser.sources.arrow import count_arrow_rows
from rephraser.sources.files import is_wiki, list_files
from rephraser.sources.lines import iter_lines
from rephraser.sources.parquet import opened_parquet
from rephraser.sources.wiki import wiki_size


def count_records(src: SourceConfig) -> int:
    """Records in the whole input (every shard, before `limit`): JSONL lines, Parquet row counts."""
    if is_wiki(src):
        return wiki_size()
    total = 0
    for f in list_files(src).files:
        if f.kind == "parquet":
            try:
                with opened_parquet(f) as pf:
                    total += pf.metadata.num_rows
            except SourceError:
                raise
            except Exception as e:  # noqa: BLE001 - unreadable footer: one line naming the file
                raise SourceError(f"cannot read Parquet metadata of {f.path}: {str(e).splitlines()[0]}") from None
        elif f.kind == "arrow":
            total += count_arrow_rows(f)
        else:
            total += sum(1 for _, line in iter_lines(f.path) if line.strip())
    return total
