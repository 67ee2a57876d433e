"""iter_source: the one entry point the runner uses to get documents.

Order of work per record: read (only this shard's files or row groups, sharding.py) -> validate
(id + text) -> in hash mode, keep only this shard's records -> check id uniqueness -> yield, stopping
as soon as `limit` records were yielded so the rest of the input is never read. Uniqueness is
checked inside the shard: in hash mode that sees every repeat (equal ids hash to the same shard); in
files/row_groups mode it sees the repeats within the shard's own part of the input.
"""

from __future__ import annotations

from collections.abc import Iterator

from rephraser.config import SourceConfig
from rephraser.errors import SourceError
from rephraser.records import Document, Rejection
from rephraser.sources.arrow import read_arrow
from rephraser.sources.files import is_wiki
from rephraser.sources.jsonl import read_jsonl
from rephraser.sources.parquet import read_parquet
from rephraser.sources.sharding import ShardPlan, plan_shards, shard_of
from rephraser.sources.validate import Checked, Columns
from rephraser.sources.wiki import read_wiki, wiki_data_path

_READERS = {"parquet": read_parquet, "jsonl": read_jsonl, "arrow": read_arrow}


def _checked_records(cfg: SourceConfig, plan: ShardPlan) -> Iterator[Checked]:
    """Resolves the input now (so a missing path fails at the call, not at the first record) and
    returns a lazy stream over this shard's part of it."""
    if is_wiki(cfg):
        wiki_data_path()
        return read_wiki(cfg.max_chars)
    cols = Columns(cfg.text_column, cfg.id_column, cfg.metadata_columns)

    def stream() -> Iterator[Checked]:
        if plan.mode == "hash":
            for src in plan.files:
                yield from _READERS[src.kind](src, cols, cfg.max_chars)
            return
        for unit in plan.units_of(cfg.shard_index):
            src = plan.files[unit.file]
            if unit.row_groups is not None:
                yield from read_parquet(src, cols, cfg.max_chars, row_groups=range(*unit.row_groups))
            else:
                yield from _READERS[src.kind](src, cols, cfg.max_chars)

    return stream()


def _repeat(checked: Checked, first_origin: str, cfg: SourceConfig) -> Rejection:
    """The later of two records with the same id. It is renamed to its fallback id so that every
    id the source yields stays unique (output manifests are keyed by id)."""
    item = checked.item
    if checked.id_kind == "generated":
        reason = f"duplicate text (first at {first_origin})"
    elif cfg.on_duplicate_id == "error":
        raise SourceError(
            f"duplicate id {item.id!r} at {item.origin} (first at {first_origin}); "
            "set source.on_duplicate_id: reject to skip repeats"
        )
    else:
        reason = f"duplicate id (first at {first_origin})"
    return Rejection(checked.fallback_id, reason, item.origin, item.text, item.metadata)


def iter_source(cfg: SourceConfig, *, unique_ids: bool = True,
                plan: ShardPlan | None = None) -> Iterator[Document | Rejection]:
    """Documents and per-record Rejections of shard `cfg.shard_index` of `cfg.shard_count`, in input
    order, at most `cfg.limit` of them (valid + rejected). Unreadable input raises SourceError: a
    missing path or empty folder at this call, a file that turns out unreadable when reached.
    `plan` says which part of the input the shard owns (a run passes the one recorded in its
    folder); None plans it here. unique_ids=False skips the id uniqueness check (and the memory it
    takes per document), for readers that only sample texts (`rephraser mix`)."""
    plan = plan or plan_shards(cfg)
    return _select(cfg, _checked_records(cfg, plan), unique_ids, by_hash=plan.mode == "hash")


def _select(cfg: SourceConfig, records: Iterator[Checked], unique_ids: bool,
            by_hash: bool) -> Iterator[Document | Rejection]:
    seen: dict[str, str] = {}  # id -> origin of its first record
    yielded = 0
    for checked in records:
        item = checked.item
        if by_hash and shard_of(item.id, cfg.shard_count) != cfg.shard_index:
            continue
        if unique_ids and checked.id_kind is not None:
            first = seen.get(item.id)
            if first is not None:
                item = _repeat(checked, first, cfg)
            else:
                seen[item.id] = item.origin
        yield item
        yielded += 1
        if cfg.limit is not None and yielded >= cfg.limit:
            return
