"""Every input format yields the same documents, in order, with ids and metadata."""

from __future__ import annotations

import datetime as dt
import decimal
import json

import pyarrow as pa

from rephraser.config import SourceConfig
from rephraser.records import Document, dumps_json
from rephraser.sources import count_source_files, describe_source, iter_source

RECORDS = [{"id": f"d{i}", "text": f"document number {i}", "lang": "en", "n": i} for i in range(50)]


def _ids(items):
    return [i.id for i in items]


def test_plain_jsonl_yields_documents_in_order_with_metadata(corpus):
    path = corpus.jsonl("a.jsonl", RECORDS)
    items = corpus.read(path)
    assert all(isinstance(i, Document) for i in items)
    assert _ids(items) == [r["id"] for r in RECORDS]
    first = items[0]
    assert first.text == "document number 0"
    assert first.metadata == {"lang": "en", "n": 0}
    assert first.origin == f"{path}:1"


def test_gzip_and_zstd_match_plain(corpus):
    plain = corpus.read(corpus.jsonl("a.jsonl", RECORDS))
    gz = corpus.read(corpus.gz("b.jsonl.gz", RECORDS))
    zst = corpus.read(corpus.zst("c.jsonl.zst", RECORDS))
    multi = corpus.read(corpus.zst("d.jsonl.zst", RECORDS, frames=7))  # what parallel compressors write
    for other in (gz, zst, multi):
        assert [(d.id, d.text, d.metadata) for d in other] == [(d.id, d.text, d.metadata) for d in plain]


def test_multi_member_gzip_is_read_completely(corpus):
    import gzip

    payload = corpus.jsonl_bytes(RECORDS[:20]), corpus.jsonl_bytes(RECORDS[20:])
    path = corpus.raw("m.jsonl.gz", gzip.compress(payload[0]) + gzip.compress(payload[1]))
    assert _ids(corpus.read(path)) == [r["id"] for r in RECORDS]


def test_compression_is_detected_from_content_not_name(corpus):
    import gzip

    path = corpus.raw("misnamed.jsonl", gzip.compress(corpus.jsonl_bytes(RECORDS)))
    assert len(corpus.read(path)) == len(RECORDS)


def test_crlf_bom_blank_lines_and_missing_final_newline(corpus):
    payload = b'\xef\xbb\xbf{"id": "a", "text": "one"}\r\n\r\n   \n{"id": "b", "text": "two"}'
    items = corpus.read(corpus.raw("w.json", payload))
    assert [(i.id, i.text, i.origin.rsplit(":", 1)[1]) for i in items] == [
        ("a", "one", "1"),
        ("b", "two", "4"),
    ]


def test_line_longer_than_read_chunk(corpus):
    long_text = "word " * 500_000  # 2.5 MB: spans several 1 MiB read chunks
    items = corpus.read(
        corpus.jsonl("long.jsonl", [{"id": "x", "text": long_text}, RECORDS[0]]), max_chars=3_000_000
    )
    assert [i.text for i in items] == [long_text, RECORDS[0]["text"]]


def test_parquet_streams_batches_and_keeps_types(corpus):
    n = 2500  # several record batches and row groups
    path = corpus.parquet(
        "p.parquet",
        {"id": list(range(n)), "text": [f"row {i}" for i in range(n)], "score": [i / 2 for i in range(n)]},
        row_group_size=700,
    )
    items = corpus.read(path)
    assert _ids(items) == [str(i) for i in range(n)]  # int ids become str
    assert items[1234].text == "row 1234"
    assert items[1234].metadata == {"score": 617.0}
    assert items[1234].origin == f"{path}#1234"


def test_parquet_metadata_is_json_safe(corpus):
    table = pa.table(
        {
            "text": ["hello"],
            "blob": pa.array([b"\x00\xff"], pa.binary()),
            "utf8_blob": pa.array([b"ok"], pa.binary()),
            "day": pa.array([dt.date(2024, 5, 1)], pa.date32()),
            "when": pa.array([dt.datetime(2024, 5, 1, 12, 30)], pa.timestamp("s")),
            "price": pa.array([decimal.Decimal("1.50")], pa.decimal128(5, 2)),
            "nan": [float("nan")],
            "tags": [["a", "b"]],
        }
    )
    (doc,) = corpus.read(corpus.parquet("t.parquet", table))
    assert doc.metadata == {
        "blob": "base64:AP8=",
        "utf8_blob": "ok",
        "day": "2024-05-01",
        "when": "2024-05-01T12:30:00",
        "price": "1.50",
        "nan": "nan",
        "tags": ["a", "b"],
    }
    assert json.loads(dumps_json(doc.metadata)) == doc.metadata


def test_metadata_columns_selects_and_custom_columns(corpus):
    recs = [{"key": "k1", "body": "some text", "a": 1, "b": 2}]
    for path in (
        corpus.jsonl("c.jsonl", recs),
        corpus.parquet("c.parquet", {k: [v] for k, v in recs[0].items()}),
    ):
        (doc,) = corpus.read(path, text_column="body", id_column="key", metadata_columns=["b", "absent"])
        assert (doc.id, doc.text, doc.metadata) == ("k1", "some text", {"b": 2})


def test_folder_is_recursive_sorted_and_mixes_formats(corpus):
    corpus.jsonl("data/b/2.jsonl", RECORDS[20:30])
    corpus.gz("data/a/1.jsonl.gz", RECORDS[10:20])
    corpus.parquet("data/0.parquet", {k: [r[k] for r in RECORDS[:10]] for k in ("id", "text")})
    corpus.zst("data/b/3.jsonl.zst", RECORDS[30:40])
    corpus.raw("data/README.md", b"# not data")
    corpus.raw("data/_SUCCESS", b"")
    corpus.jsonl("data/.cache/hidden.jsonl", RECORDS[40:])  # hidden folders are skipped
    cfg = SourceConfig(path=str(corpus.root / "data"))
    assert _ids(iter_source(cfg)) == [r["id"] for r in RECORDS[:40]]
    assert count_source_files(cfg) == 4
    assert describe_source(cfg) == "4 files, jsonl+parquet (1 other file ignored)"


def test_explicit_format_filters_folder_and_overrides_extension(corpus):
    corpus.jsonl("f/a.jsonl", RECORDS[:3])
    corpus.parquet("f/b.parquet", {"text": ["p"]})
    assert (
        describe_source(SourceConfig(path=str(corpus.root / "f"), format="jsonl"))
        == "1 file, jsonl (1 other file ignored)"
    )
    assert len(corpus.read(corpus.root / "f", format="parquet")) == 1
    odd = corpus.jsonl("records.txt", RECORDS[:2])
    assert _ids(corpus.read(odd, format="jsonl")) == ["d0", "d1"]


def test_reading_is_deterministic(corpus):
    corpus.jsonl("x/a.jsonl", RECORDS[:25])
    corpus.jsonl("x/b.jsonl", RECORDS[25:])
    once = corpus.read(corpus.root / "x")
    again = corpus.read(corpus.root / "x")
    assert once == again


def test_file_names_that_are_not_utf8_are_read_and_kept_printable(tmp_path):
    """A name with a Latin-1 byte is opened by its bytes; lineage and fallback ids keep a printable form."""
    import os

    import pyarrow.parquet as pq

    from rephraser.records import Row, rows_to_table

    folder = tmp_path / "src"
    folder.mkdir()
    with open(os.path.join(os.fsencode(folder), b"caf\xe9.jsonl"), "wb") as f:
        f.write(b'{"id": "a", "text": "one"}\n{"text": "two"}\n{broken\n')
    items = list(iter_source(SourceConfig(path=str(folder))))
    assert [i.origin for i in items] == [f"{folder}/caf\\xe9.jsonl:{n}" for n in (1, 2, 3)]
    assert items[2].id == "caf\\xe9.jsonl:3"  # a record without a usable id
    rows = [Row(id=i.id, prompt="p", status="ok", source_origin=i.origin) for i in items]
    pq.write_table(rows_to_table(rows), tmp_path / "t.parquet")  # storable: no lone surrogates
