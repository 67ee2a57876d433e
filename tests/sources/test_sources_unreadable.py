"""Input that cannot be read at all is one SourceError line naming the file."""

from __future__ import annotations

import gzip
import os

import pytest

from rephraser.config import SourceConfig
from rephraser.errors import SourceError
from rephraser.records import Document
from rephraser.sources import count_source_files, describe_source

RECORDS = [{"id": f"r{i}", "text": f"record {i} " + "filler " * 20} for i in range(3000)]


def _error(corpus, path, **cfg) -> str:
    with pytest.raises(SourceError) as err:
        corpus.read(path, **cfg)
    msg = str(err.value)
    assert "\n" not in msg
    return msg


def test_missing_path(corpus):
    assert (
        _error(corpus, corpus.root / "nope.jsonl") == f"source path not found: {corpus.root / 'nope.jsonl'}"
    )


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root ignores file permissions")
def test_permission_denied(corpus):
    path = corpus.jsonl("locked.jsonl", RECORDS[:2])
    ppath = corpus.parquet("locked.parquet", {"text": ["x"]})
    path.chmod(0)
    ppath.chmod(0)
    try:
        assert _error(corpus, path) == f"cannot read {path}: Permission denied"
        assert _error(corpus, ppath) == f"cannot read {ppath}: Permission denied"
    finally:
        path.chmod(0o644)
        ppath.chmod(0o644)


def test_unknown_extension(corpus):
    path = corpus.raw("table.csv", b"id,text\n1,hello\n")
    assert _error(corpus, path).startswith(f"cannot tell the format of {path} from its name")


def test_binary_file_named_jsonl(corpus):
    path = corpus.raw("blob.jsonl", bytes(range(256)) * 4)
    assert _error(corpus, path) == f"{path} is not a JSONL file (binary data near the start)"


def test_parquet_named_jsonl(corpus):
    real = corpus.parquet("real.parquet", {"text": ["x"]})
    path = corpus.raw("fake.jsonl", real.read_bytes())
    assert _error(corpus, path).startswith(f"{path} is a Parquet file, not JSONL")


def test_text_named_parquet(corpus):
    path = corpus.jsonl("fake.parquet", RECORDS[:2])
    assert _error(corpus, path).startswith(f"{path} is not a readable Parquet file (")


def test_parquet_without_text_column(corpus):
    path = corpus.parquet("file.parquet", {"a": [1], "b": ["x"]})
    assert _error(corpus, path) == f"{path} has no column 'text' (columns: a, b)"


def test_truncated_gzip_names_file_and_line_after_yielding_what_was_readable(corpus):
    blob = gzip.compress(corpus.jsonl_bytes(RECORDS))
    path = corpus.raw("cut.jsonl.gz", blob[: len(blob) // 2])
    seen = []
    from rephraser.sources import iter_source

    with pytest.raises(SourceError) as err:
        for item in iter_source(SourceConfig(path=str(path))):
            seen.append(item)
    msg = str(err.value)
    assert (
        msg
        == f"corrupted gzip stream in {path} after line {len(seen)}: unexpected end of data (truncated file?)"
    )
    assert 0 < len(seen) < len(RECORDS) and all(isinstance(i, Document) for i in seen)


def test_garbled_gzip(corpus):
    blob = bytearray(gzip.compress(corpus.jsonl_bytes(RECORDS)))
    blob[len(blob) // 2 : len(blob) // 2 + 64] = b"\xaa" * 64
    path = corpus.raw("garbled.jsonl.gz", bytes(blob))
    assert _error(corpus, path).startswith(f"corrupted gzip stream in {path} after line ")


def test_gz_name_without_gzip_data(corpus):
    path = corpus.raw("plain.jsonl.gz", b"this is not gzip\n")
    assert _error(corpus, path).startswith(f"corrupted gzip stream in {path} after line 0: ")


def test_truncated_and_garbled_zstd(corpus):
    import zstandard

    blob = zstandard.ZstdCompressor().compress(corpus.jsonl_bytes(RECORDS))
    cut = corpus.raw("cut.jsonl.zst", blob[: len(blob) // 2])
    assert _error(corpus, cut).startswith(f"corrupted zstd stream in {cut} after line ")
    assert _error(corpus, cut).endswith("unexpected end of data (truncated file?)")
    bad = bytearray(blob)
    bad[len(bad) // 2 : len(bad) // 2 + 64] = b"\x55" * 64
    garbled = corpus.raw("garbled.jsonl.zst", bytes(bad))
    assert _error(corpus, garbled).startswith(f"corrupted zstd stream in {garbled} after line ")


def test_empty_folders(corpus):
    empty = corpus.root / "empty"
    empty.mkdir()
    assert _error(corpus, empty).startswith("empty folder: no data files (")
    corpus.raw("docs/README.md", b"hi")
    msg = _error(corpus, corpus.root / "docs")
    assert msg.startswith("empty folder: no data files") and msg.endswith("; 1 other file(s) ignored")
    corpus.jsonl("only_jsonl/a.jsonl", RECORDS[:1])
    assert _error(corpus, corpus.root / "only_jsonl", format="parquet").startswith(
        "empty folder: no parquet files in"
    )


def test_describe_and_count_raise_the_same_errors(corpus):
    cfg = SourceConfig(path=str(corpus.root / "missing"))
    for fn in (describe_source, count_source_files):
        with pytest.raises(SourceError, match="source path not found"):
            fn(cfg)


def test_format_needs_path_and_wiki_takes_none(corpus):
    with pytest.raises(SourceError, match="source.format 'jsonl' needs source.path"):
        corpus.read(None, format="jsonl")
    with pytest.raises(SourceError, match="takes no path"):
        corpus.read(corpus.root, format="wiki")


def test_text_that_is_not_jsonl(corpus):
    csv = corpus.raw("table.jsonl", b"id,text\n" + b"".join(b"%d,hello %d\n" % (i, i) for i in range(100)))
    msg = _error(corpus, csv)
    assert msg == (
        f"{csv} is not a JSONL file: none of its first 20 line(s) is a JSON object "
        "(line 1: malformed JSON: Expecting value (column 1))"
    )
    pretty = corpus.raw("array.json", b'[\n  {"id": 1, "text": "a"},\n  {"id": 2, "text": "b"}\n]\n')
    assert _error(corpus, pretty) == (
        f"{pretty} looks like one pretty-printed JSON document, not JSON lines (line 1 is '['); "
        "write one JSON object per line"
    )


def test_bad_first_lines_of_a_real_jsonl_file_are_only_rejections(corpus):
    path = corpus.raw("ok.jsonl", b"garbage\n[1]\n" + corpus.jsonl_bytes(RECORDS[:3]))
    items = corpus.read(path)
    assert [getattr(i, "reason", "") for i in items] == [
        "malformed JSON: Expecting value (column 1)",
        "JSON value is not an object (got array)",
        "",
        "",
        "",
    ]


def test_missing_input_fails_at_the_call_not_the_first_record(corpus):
    from rephraser.sources import iter_source

    with pytest.raises(SourceError, match="source path not found"):
        iter_source(SourceConfig(path=str(corpus.root / "missing.jsonl")))
