"""Sources on S3 read exactly like the same files on local disk (moto on loopback)."""

from __future__ import annotations

import gzip
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rephraser import storage
from rephraser.config import SourceConfig
from rephraser.errors import RephraserError
from rephraser.records import Document
from rephraser.sources import iter_source, list_files
from rephraser.sources.count import count_records


def _docs(start: int, n: int) -> list[dict]:
    return [{"id": f"d{i:04d}", "text": f"Document {i} talks about topic {i % 7}.", "lang": "en"} for i in range(start, start + n)]


def _write_corpus(root) -> None:
    """A folder with every input format, plus files a listing must skip."""
    jsonl = b"".join(json.dumps(d).encode() + b"\n" for d in _docs(0, 30))
    storage.write_bytes(f"{root}/a/part-0.jsonl", jsonl + b"{broken\n")
    storage.write_bytes(f"{root}/a/part-1.jsonl.gz", gzip.compress(b"".join(
        json.dumps(d).encode() + b"\n" for d in _docs(30, 30))))
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(_docs(60, 40)), buf, row_group_size=16)
    storage.write_bytes(f"{root}/b/data.parquet", buf.getvalue())
    storage.write_bytes(f"{root}/_SUCCESS", b"")
    storage.write_bytes(f"{root}/.cache/x.jsonl", b"{}\n")
    storage.write_bytes(f"{root}/notes.txt", b"not data")


def _read(path: str, **kw) -> list:
    return [(type(x).__name__, x.id, x.text, getattr(x, "reason", None)) for x in iter_source(SourceConfig(path=path, **kw))]


def test_s3_folder_reads_like_local(s3, tmp_path):
    _write_corpus(s3 + "/corpus")
    _write_corpus(tmp_path / "corpus")
    remote, local = _read(s3 + "/corpus"), _read(str(tmp_path / "corpus"))
    assert len(remote) == 101 and remote == local  # 100 docs + 1 malformed line, same ids, same order
    listing = list_files(SourceConfig(path=s3 + "/corpus"))
    assert [f.name for f in listing.files] == ["a/part-0.jsonl", "a/part-1.jsonl.gz", "b/data.parquet"]
    assert listing.ignored == 1  # notes.txt; _SUCCESS and .cache/ are skipped silently
    assert count_records(SourceConfig(path=s3 + "/corpus")) == 101
    # one shard of a remote source, and a single remote file
    shard = _read(s3 + "/corpus", shard_index=1, shard_count=3)
    assert shard == _read(str(tmp_path / "corpus"), shard_index=1, shard_count=3)
    single = _read(s3 + "/corpus/b/data.parquet", limit=5)
    assert [x[1] for x in single] == [f"d{i:04d}" for i in range(60, 65)]
    origin = next(x for x in iter_source(SourceConfig(path=s3 + "/corpus")) if isinstance(x, Document)).origin
    assert origin.startswith(s3 + "/corpus/a/part-0.jsonl:")


@pytest.mark.parametrize("suffix, expected", [
    ("/nothing-here", "source path not found: {s3}/nothing-here"),
    ("/corpus/missing.jsonl", "source path not found: {s3}/corpus/missing.jsonl"),
])
def test_missing_remote_source(s3, suffix, expected):
    _write_corpus(s3 + "/corpus")
    with pytest.raises(RephraserError) as e:
        list(iter_source(SourceConfig(path=s3 + suffix)))
    assert str(e.value) == expected.format(s3=s3)


def test_missing_bucket_names_the_url(s3):
    url = s3.replace("s3://", "s3://gone-") + "/in.jsonl"
    with pytest.raises(RephraserError) as e:
        list(iter_source(SourceConfig(path=url)))
    assert url in str(e.value) and "\n" not in str(e.value)


def test_corrupt_remote_parquet_is_one_line(s3):
    storage.write_bytes(s3 + "/bad.parquet", b"PAR1 this is not really parquet")
    with pytest.raises(RephraserError, match=rf"^{s3}/bad.parquet is not a readable Parquet file"):
        list(iter_source(SourceConfig(path=s3 + "/bad.parquet")))


@pytest.fixture
def http_root(tmp_path):
    """A plain HTTP server on loopback serving tmp_path/www (read-only https:// sources use the same code)."""
    import functools
    import threading
    from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

    www = tmp_path / "www"
    www.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(www)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield www, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_http_file_source_reads_like_local(http_root):
    www, url = http_root
    records = b"".join(json.dumps(d).encode() + b"\n" for d in _docs(0, 25))
    (www / "c.jsonl.gz").write_bytes(gzip.compress(records))
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(_docs(25, 10)), buf)
    (www / "d.parquet").write_bytes(buf.getvalue())
    assert _read(f"{url}/c.jsonl.gz") == _read(str(www / "c.jsonl.gz"))
    assert _read(f"{url}/d.parquet") == _read(str(www / "d.parquet"))
    with pytest.raises(RephraserError, match=rf"^source path not found: {url}/missing.jsonl$"):
        list(iter_source(SourceConfig(path=f"{url}/missing.jsonl")))
