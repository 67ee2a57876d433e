"""A corpus with every kind of bad record: each gets its exact reason, good records around it survive."""

from __future__ import annotations

import hashlib

import pytest

from rephraser.errors import SourceError
from rephraser.records import Document, Rejection

GOOD = b'{"id": "good-%d", "text": "valid text %d"}'
BAD_LINES: list[tuple[bytes, str | None, str]] = [
    # (line, expected id (None = "<name>:<line>"), expected reason)
    (b'{"id": "b1"}', "b1", "missing text column 'text'"),
    (b'{"id": "b2", "text": null}', "b2", "text is null"),
    (b'{"id": "b3", "text": ""}', "b3", "empty text"),
    (b'{"id": "b4", "text": "  \\n\\t  "}', "b4", "whitespace-only text"),
    (b'{"id": "b5", "text": 42}', "b5", "text is not a string (got number)"),
    (b'{"id": "b6", "text": ["a", "b"]}', "b6", "text is not a string (got array)"),
    (b'{"id": "b7", "text": {"a": 1}}', "b7", "text is not a string (got object)"),
    (b'{"id": "b8", "text": true}', "b8", "text is not a string (got boolean)"),
    (b'{"id": "b9", "text": "' + b"x" * 31 + b'"}', "b9", "document too long: 31 chars > max_chars 30"),
    (b'{"id": "b10", "text": "caf\xe9 au lait"}', None, "invalid UTF-8 at byte 26"),
    (
        b'{"id": "b11", "text": "unterminated}',
        None,
        "malformed JSON: Unterminated string starting at (column 23)",
    ),
    (b'{"id": "b12", "text": }', None, "malformed JSON: Expecting value (column 23)"),
    (b"[1, 2, 3]", None, "JSON value is not an object (got array)"),
    (b'"just a string"', None, "JSON value is not an object (got string)"),
    (b"17", None, "JSON value is not an object (got number)"),
    (b"null", None, "JSON value is not an object (got null)"),
    (b'{"id": null, "text": "has text"}', None, "id is null"),
    (b'{"id": "", "text": "has text"}', None, "empty id"),
    (b'{"id": "   ", "text": "has text"}', None, "empty id"),
    (b'{"id": ["x"], "text": "has text"}', None, "id must be a string or integer (got array)"),
    (b'{"id": {"k": 1}, "text": "has text"}', None, "id must be a string or integer (got object)"),
    (b'{"id": true, "text": "has text"}', None, "id must be a string or integer (got boolean)"),
    (b'{"id": 1.5, "text": "has text"}', None, "id must be a string or integer (got number 1.5)"),
    (
        b'{"id": "b13", "text": "bad \\ud800 surrogate"}',
        "b13",
        "text contains invalid unicode (lone surrogate)",
    ),
    (b'{"id": "good-0", "text": "repeat of the first id"}', None, "duplicate id (first at {path}:1)"),
    (b'{"text": "no id, generated"}', "GEN", ""),  # valid: generated id
    (b'{"text": "no id, generated"}', None, "duplicate text (first at {path}:{gen_line})"),
]


def _build(corpus, name="bad.jsonl"):
    """Interleave a good line before every bad line; return (path, expectations per line)."""
    lines: list[bytes] = []
    expected: list[tuple[str, str]] = []  # (id, reason or "" for a Document)
    gen_line = 0
    for n, (line, rid, reason) in enumerate(BAD_LINES):
        lines.append(GOOD % (n, n))
        expected.append((f"good-{n}", ""))
        lines.append(line)
        lineno = len(lines)
        if rid == "GEN":
            gen_line = lineno
            rid = "sha-" + hashlib.sha256(b"no id, generated").hexdigest()[:16]
        expected.append((rid or f"{name}:{lineno}", reason))
    lines.append(b'{"id": "last", "text": "read after all the bad ones"}')
    expected.append(("last", ""))
    path = corpus.raw(name, b"\n".join(lines) + b"\n")
    expected = [(i, r.format(path=path, gen_line=gen_line)) for i, r in expected]
    return path, expected


def test_every_bad_record_is_rejected_with_its_reason_and_good_ones_survive(corpus):
    path, expected = _build(corpus)
    items = corpus.read(path, max_chars=30, on_duplicate_id="reject")
    got = [(i.id, i.reason if isinstance(i, Rejection) else "") for i in items]
    assert got == expected
    assert len({i.id for i in items}) == len(items)  # ids stay unique, repeats included
    for item in items:
        assert item.origin.startswith(f"{path}:")
        if isinstance(item, Document):
            assert item.text.startswith(("valid text", "no id", "read after"))


def test_rejections_keep_text_and_metadata_where_it_helps(corpus):
    path = corpus.jsonl(
        "r.jsonl",
        [
            {"id": "a", "text": "   ", "lang": "en"},
            {"id": "b", "text": "y" * 50, "lang": "fr"},
            {"id": None, "text": "orphan", "lang": "de"},
        ],
    )
    blank, long, orphan = corpus.read(path, max_chars=10)
    assert (blank.text, blank.metadata) == ("   ", {"lang": "en"})
    assert (long.text, long.metadata) == (None, {"lang": "fr"})  # the too-long text is not copied
    assert (orphan.id, orphan.text, orphan.metadata) == ("r.jsonl:3", "orphan", {"lang": "de"})


def test_default_max_chars_message(corpus):
    path = corpus.jsonl("big.jsonl", [{"id": "big", "text": "a" * 5_000_000}, {"id": "ok", "text": "fine"}])
    big, ok = corpus.read(path)
    assert big.reason == "document too long: 5,000,000 chars > max_chars 2,000,000"
    assert isinstance(ok, Document)


def test_duplicate_id_is_an_error_by_default_naming_both_origins(corpus):
    path = corpus.jsonl(
        "dup.jsonl", [{"id": "x", "text": "one"}, {"id": "y", "text": "two"}, {"id": "x", "text": "three"}]
    )
    with pytest.raises(SourceError) as err:
        corpus.read(path)
    msg = str(err.value)
    assert f"{path}:3" in msg and f"{path}:1" in msg and "'x'" in msg
    assert "\n" not in msg


def test_duplicate_ids_across_files_and_formats(corpus):
    corpus.jsonl("f/a.jsonl", [{"id": 5, "text": "int id"}])
    corpus.parquet("f/b.parquet", {"id": ["5"], "text": ["same id as a string"]})
    first, repeat = corpus.read(corpus.root / "f", on_duplicate_id="reject")
    assert first.id == "5"
    assert (repeat.id, repeat.reason) == (
        "b.parquet#0",
        f"duplicate id (first at {corpus.root / 'f' / 'a.jsonl'}:1)",
    )


def test_parquet_bad_values_are_rejected_per_row(corpus):
    import pyarrow as pa

    table = pa.table(
        {
            "id": pa.array(["p0", None, "", "p3", "p4"], pa.string()),
            "text": pa.array(["fine", "no id", "empty id", None, "   "], pa.string()),
        }
    )
    path = corpus.parquet("bad.parquet", table)
    got = [(i.id, getattr(i, "reason", "")) for i in corpus.read(path)]
    assert got == [
        ("p0", ""),
        ("bad.parquet#1", "id is null"),
        ("bad.parquet#2", "empty id"),
        ("p3", "text is null"),
        ("p4", "whitespace-only text"),
    ]
    ints = corpus.parquet("ints.parquet", {"text": [1, 2]})
    assert [i.reason for i in corpus.read(ints)] == ["text is not a string (got number)"] * 2


def test_generated_ids_are_content_hashes_and_stable(corpus):
    texts = ["alpha", "beta", "gamma"]
    path = corpus.jsonl("g.jsonl", [{"text": t} for t in texts])
    expected = ["sha-" + hashlib.sha256(t.encode()).hexdigest()[:16] for t in texts]
    assert [d.id for d in corpus.read(path)] == expected
    # id_column=None ignores an id column (it becomes metadata); same content -> same ids
    other = corpus.jsonl("h.jsonl", [{"id": i, "text": t} for i, t in enumerate(texts)])
    items = corpus.read(other, id_column=None)
    assert [d.id for d in items] == expected
    assert items[1].metadata == {"id": 1}
