"""The storage API behaves the same on a local folder and on a real S3 server (moto on loopback)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pytest

from rephraser import storage
from rephraser.errors import StorageError
from rephraser.storage import Url, as_location


@pytest.fixture(params=["local", "s3"])
def root(request, tmp_path):
    if request.param == "local":
        return tmp_path / "root"
    return request.getfixturevalue("s3") + "/root"


def test_same_operations_local_and_s3(root):
    base = as_location(root)
    assert not storage.exists(base / "a.json")
    assert storage.listdir(base) == [] and storage.find(base) == []
    storage.write_json(base / "a.json", {"x": 1})
    storage.write_bytes(base / "sub" / "b.bin", b"\x00\x01")
    storage.write_table(pa.table({"v": [1, 2, 3]}), base / "sub" / "deeper" / "c.parquet")
    assert storage.exists(base / "a.json") and storage.is_dir(base / "sub")
    assert json.loads(storage.read_text(base / "a.json")) == {"x": 1}
    assert storage.read_bytes(base / "sub" / "b.bin") == b"\x00\x01"
    assert storage.size(base / "sub" / "b.bin") == 2
    assert storage.read_many([base / "sub" / "b.bin", base / "a.json"]) == [b"\x00\x01", b'{\n  "x": 1\n}\n']
    assert storage.listdir(base) == ["a.json", "sub"]
    assert storage.find(base) == ["a.json", "sub/b.bin", "sub/deeper/c.parquet"]
    assert [str(p.relative_to(base)) for p in storage.glob(base, "sub/*/*.parquet")] == ["sub/deeper/c.parquet"]
    import pyarrow.parquet as pq

    with storage.open_read(base / "sub" / "deeper" / "c.parquet") as f:
        assert pq.read_table(f)["v"].to_pylist() == [1, 2, 3]
    storage.write_many({base / "m" / "x" / "1.parquet": storage.table_writer(pa.table({"v": [7]})),
                        base / "m" / "y" / "2.bin": lambda f: f.write(b"two")})
    assert storage.find(base / "m") == ["x/1.parquet", "y/2.bin"]
    assert storage.read_bytes(base / "m" / "y" / "2.bin") == b"two"
    storage.remove_tree(base / "m")
    storage.write_bytes(base / "a.json", b"{}")  # overwrite is a whole-object replace
    assert storage.read_bytes(base / "a.json") == b"{}"
    storage.remove(base / "a.json")
    storage.remove(base / "a.json")  # already gone: fine
    assert not storage.exists(base / "a.json")
    storage.remove_tree(base / "sub")
    assert storage.find(base) == []
    storage.remove_tree(base / "never-there")


def test_locations():
    assert as_location("file:///tmp/x") == Path("/tmp/x")
    assert as_location("out/run") == Path("out/run")
    u = as_location("S3://bucket/a/b/")
    assert isinstance(u, Url) and str(u) == "s3://bucket/a/b" and u.name == "b"
    assert str(u.parent) == "s3://bucket/a" and str(u / "c" / "d.json") == "s3://bucket/a/b/c/d.json"
    assert str(as_location("s3://bucket").parent) == "s3://bucket"
    assert str((u / "x.parquet").relative_to(as_location("s3://bucket/a"))) == "b/x.parquet"
    assert storage.is_remote("gs://b/x") and not storage.is_remote("file:///x") and not storage.is_remote("x/y")


@pytest.mark.parametrize("url", [
    "s3://AKIAX:secretvalue@bucket/path",
    "https://user:pw@example.org/data.jsonl",
    "https://bucket.s3.amazonaws.com/x.parquet?X-Amz-Credential=AKIA&X-Amz-Signature=abc",
    "https://example.org/data.jsonl?token=abc",
])
def test_urls_with_credentials_are_refused_without_echoing_them(url):
    with pytest.raises(StorageError) as e:
        as_location(url)
    msg = str(e.value)
    assert "\n" not in msg and "environment" in msg
    for secret in ("secretvalue", "pw@", "abc"):
        assert secret not in msg


def test_read_only_protocols_refuse_writes():
    with pytest.raises(StorageError, match=r"https://example.org/out/run.json: https:// locations are read-only"):
        storage.write_json("https://example.org/out/run.json", {})


def test_missing_library_names_the_extra(monkeypatch):
    import fsspec.core

    def no_lib(url, **kw):
        raise ImportError("Install gcsfs to access Google Storage")

    monkeypatch.setattr(fsspec.core, "url_to_fs", no_lib)
    with pytest.raises(StorageError) as e:
        storage.exists("gs://bucket/data.parquet")
    assert str(e.value) == "gs://bucket/data.parquet: gs:// needs gcsfs: pip install 'rephraser[gcs]'"


def test_local_work_dir_for_remote(monkeypatch, tmp_path):
    monkeypatch.setenv("REPHRASER_LOCAL_DIR", str(tmp_path))
    a = storage.local_work_dir("s3://bucket/runs/a")
    assert a.parent == tmp_path / "remote" and a.name.startswith("a-")
    assert a != storage.local_work_dir("s3://other/runs/a")
    assert storage.local_work_dir(tmp_path / "x") == tmp_path / "x"


def test_missing_bucket_and_object_are_one_line_errors(s3):
    missing = s3.replace("s3://", "s3://no-such-") + "/x/data.jsonl"
    for call in (storage.read_bytes, storage.find, storage.listdir):
        with pytest.raises(StorageError) as e:
            call(missing if call is storage.read_bytes else missing.rsplit("/", 1)[0])
        assert "bucket not found" in str(e.value) and "s3://no-such-" in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(StorageError, match=rf"cannot write {missing}: bucket not found"):
        storage.write_bytes(missing, b"1")
    with pytest.raises(StorageError, match=rf"cannot read {s3}/nothing.json: not found"):
        storage.read_text(f"{s3}/nothing.json")


def test_listings_see_what_another_process_committed(s3, s3_credentials, s3_endpoint):
    """fsspec caches listings per process; a listing must never hide a commit made elsewhere since."""
    import s3fs

    other = s3fs.S3FileSystem(key=s3_credentials[0], secret=s3_credentials[1], endpoint_url=s3_endpoint,
                              skip_instance_cache=True)  # another worker
    base = as_location(s3) / "out"
    storage.write_bytes(base / "m" / "s0" / "part-0.json", b"0")
    assert storage.listdir(base / "m" / "s0") == ["part-0.json"]  # this process has now listed the subfolder
    assert storage.size(base / "m" / "s0" / "part-0.json") == 1
    other.pipe(f"{s3[5:]}/out/m/s0/part-1.json", b"1")
    other.pipe(f"{s3[5:]}/out/m/s0/part-0.json", b"0-rewritten")
    assert [str(p.relative_to(base)) for p in storage.glob(base / "m", "*/part-*.json")] == [
        "m/s0/part-0.json", "m/s0/part-1.json"]
    assert storage.find(base) == ["m/s0/part-0.json", "m/s0/part-1.json"]
    assert storage.exists(base / "m" / "s0" / "part-1.json")
    assert storage.size(base / "m" / "s0" / "part-0.json") == 11
    with storage.open_read(base / "m" / "s0" / "part-0.json") as f:
        assert f.read() == b"0-rewritten"
