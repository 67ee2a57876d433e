"""Input documents: JSONL (plain/.gz/.zst), Parquet, folders of them, or the embedded wiki extracts.

    for item in iter_source(cfg.source):   # Document | Rejection, this shard only, up to limit
        ...

Per-record problems come back as `Rejection`s with a reason; unreadable input raises `SourceError`.
"""

from rephraser.sources.describe import count_source_files, describe_source
from rephraser.sources.files import list_files
from rephraser.sources.reader import iter_source
from rephraser.sources.sharding import shard_of

__all__ = ["count_source_files", "describe_source", "iter_source", "list_files", "shard_of"]
