"""Shards partition the input by id, whatever the input order; limit stops reading early."""

from __future__ import annotations

import gzip
import hashlib

import pytest

from rephraser.config import SourceConfig
from rephraser.records import Rejection
from rephraser.sources import iter_source, shard_of

RECORDS = [{"id": f"doc-{i}", "text": f"text of document {i}"} for i in range(300)]
NO_ID = [{"text": f"anonymous text {i}"} for i in range(40)]
BAD = [{"id": f"bad-{i}", "text": ""} for i in range(10)]


def test_shard_of_is_the_documented_formula():
    for rid in ("a", "doc-17", "wiki-en/Ada Lovelace", "sha-0123456789abcdef"):
        expected = int(hashlib.sha256(rid.encode()).hexdigest()[:8], 16) % 7
        assert shard_of(rid, 7) == expected
    assert shard_of("anything", 1) == 0


def _corpus_lines(corpus, name, records, extra_bad_lines=b""):
    return corpus.raw(name, corpus.jsonl_bytes(records) + extra_bad_lines)


def test_shards_are_a_disjoint_cover_and_independent_of_order(corpus):
    everything = RECORDS + NO_ID + BAD
    forward = _corpus_lines(corpus, "fwd/data.jsonl", everything, b"not json\n[1]\n")
    backward = _corpus_lines(corpus, "bwd/data.jsonl", everything[::-1], b"not json\n[1]\n")
    whole = {i.id for i in iter_source(SourceConfig(path=str(forward)))}
    assert len(whole) == len(everything) + 2

    for count in (2, 3, 5):
        shards = [
            {i.id for i in iter_source(SourceConfig(path=str(forward), shard_index=k, shard_count=count))}
            for k in range(count)
        ]
        assert set().union(*shards) == whole
        assert sum(len(s) for s in shards) == len(whole)  # disjoint
        assert all(shards), "every shard gets something from 352 records"
        for k in range(count):
            items = list(iter_source(SourceConfig(path=str(forward), shard_index=k, shard_count=count)))
            assert all(shard_of(i.id, count) == k for i in items)  # rejections included
            reordered = {
                i.id
                for i in iter_source(SourceConfig(path=str(backward), shard_index=k, shard_count=count))
                if not i.id.startswith("data.jsonl:")  # positional ids of bad lines depend on position
            }
            assert reordered == {i for i in shards[k] if not i.startswith("data.jsonl:")}


def test_limit_counts_valid_and_rejected_in_this_shard(corpus):
    bad = [{"id": f"empty-{i}", "text": " "} for i in range(20)]
    mixed = [r for pair in zip(RECORDS[:20], bad, strict=True) for r in pair]  # good, bad, good, ...
    path = corpus.jsonl("m.jsonl", mixed)
    items = list(iter_source(SourceConfig(path=str(path), limit=7)))
    assert len(items) == 7
    assert sum(isinstance(i, Rejection) for i in items) == 3
    full = list(iter_source(SourceConfig(path=str(path), shard_index=1, shard_count=3)))
    limited = list(iter_source(SourceConfig(path=str(path), shard_index=1, shard_count=3, limit=4)))
    assert limited == full[:4]


def test_limit_stops_reading_before_broken_input(corpus):
    corpus.jsonl("d/a.jsonl", RECORDS[:10])
    blob = gzip.compress(corpus.jsonl_bytes(RECORDS[10:]))
    corpus.raw("d/b.jsonl.gz", blob[: len(blob) // 3])  # truncated: reading it fails
    big = corpus.raw("big.jsonl", corpus.jsonl_bytes(RECORDS[:5]) + b'{"id": "never read", ')
    assert len(list(iter_source(SourceConfig(path=str(corpus.root / "d"), limit=10)))) == 10
    assert len(list(iter_source(SourceConfig(path=str(big), limit=5)))) == 5


def test_parquet_limit_stops_before_a_corrupted_row_group(corpus):
    import pyarrow.parquet as pq

    from rephraser.errors import SourceError

    n = 4000
    path = corpus.parquet(
        "pg.parquet",
        {"id": [str(i) for i in range(n)], "text": [f"row {i} " * 8 for i in range(n)]},
        row_group_size=2000,
    )
    col = pq.ParquetFile(path).metadata.row_group(1).column(1)  # text column of the 2nd row group
    start = min(o for o in (col.dictionary_page_offset, col.data_page_offset) if o is not None)
    raw = bytearray(path.read_bytes())
    raw[start : start + 64] = b"\xee" * 64  # garble its page header
    path.write_bytes(bytes(raw))
    assert len(list(iter_source(SourceConfig(path=str(path), limit=2000)))) == 2000
    with pytest.raises(SourceError) as err:
        list(iter_source(SourceConfig(path=str(path))))
    assert str(err.value).startswith(f"cannot read {path} at row 2000: ")
