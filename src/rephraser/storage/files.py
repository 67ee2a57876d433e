"""The file operations every stage uses: exists, list, find, glob, open, read, commit (write), remove.

Plain paths go straight to os/pathlib and `rephraser.atomic` (temp file, fsync, rename); remote URLs
go through fsspec, where a write is one PUT of the whole object (atomic per object on S3, GCS and
the Hub). Listings are never served from fsspec's listing cache, because another worker may have
committed since. Every remote failure becomes a one-line StorageError naming the URL.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from rephraser import atomic
from rephraser.storage.location import Location, PathLike, Url, as_location, check_writable
from rephraser.storage.remote import filesystem, remote_errors

BUCKET_STORES = {"s3", "s3a", "gs", "gcs", "az", "abfs"}  # first path part is a bucket/container


def _fs(loc: Url, *, fresh: bool = False) -> tuple[Any, str]:
    fs, path = filesystem(loc)
    if fresh:
        # All of it: invalidating `path` alone keeps stale listings of the folders below it, which
        # fsspec would then serve to glob/find/exists after another process committed there.
        fs.invalidate_cache()
    return fs, path


# ---- questions -------------------------------------------------------------------------------
def exists(path: PathLike) -> bool:
    loc = as_location(path)
    if isinstance(loc, Path):
        return loc.exists()
    fs, p = _fs(loc, fresh=True)
    with remote_errors("access", loc):
        return bool(fs.exists(p))


def is_dir(path: PathLike) -> bool:
    """A local folder, or a remote prefix with something below it (object stores have no empty folders)."""
    loc = as_location(path)
    if isinstance(loc, Path):
        return loc.is_dir()
    if loc.protocol in ("http", "https"):
        return False  # HTTP has no folders; fsspec would download the page to look for links
    fs, p = _fs(loc, fresh=True)
    with remote_errors("access", loc):
        return bool(fs.isdir(p))


def size(path: PathLike) -> int:
    loc = as_location(path)
    if isinstance(loc, Path):
        return loc.stat().st_size
    fs, p = _fs(loc, fresh=True)
    with remote_errors("read", loc):
        return int(fs.size(p))


def stamp(path: PathLike) -> tuple[int, str]:
    """(size, version) of a file, to tell whether it changed between two reads: the mtime locally, the
    ETag (or modification time) on an object store."""
    loc = as_location(path)
    if isinstance(loc, Path):
        st = loc.stat()
        return st.st_size, str(st.st_mtime_ns)
    fs, p = _fs(loc, fresh=True)
    with remote_errors("read", loc):
        info = fs.info(p)
    version = info.get("ETag") or info.get("LastModified") or info.get("mtime") or info.get("updated") or ""
    return int(info.get("size") or 0), str(version)


def listdir(path: PathLike) -> list[str]:
    """Names directly inside a folder (files and sub-folders), sorted; [] when it does not exist."""
    loc = as_location(path)
    if isinstance(loc, Path):
        try:
            return sorted(e.name for e in os.scandir(loc))
        except (FileNotFoundError, NotADirectoryError):
            return []
    fs, p = _fs(loc, fresh=True)
    with remote_errors("list", loc):
        try:
            entries = fs.ls(p, detail=False)
        except FileNotFoundError:
            _raise_if_bucket_missing(fs, loc, p)  # a missing bucket is an error, a missing prefix is empty
            return []
    return sorted({_relative(e, p).split("/", 1)[0] for e in entries} - {""})


def find(path: PathLike) -> list[str]:
    """Relative POSIX names of every file below a folder, sorted; [] when it does not exist."""
    loc = as_location(path)
    if isinstance(loc, Path):
        found: list[str] = []
        for dirpath, _, filenames in os.walk(loc):
            rel = Path(dirpath).relative_to(loc)
            found.extend((rel / f).as_posix() for f in filenames)
        return sorted(found)
    fs, p = _fs(loc, fresh=True)
    with remote_errors("list", loc):
        try:
            files = fs.find(p)
        except FileNotFoundError:
            _raise_if_bucket_missing(fs, loc, p)
            return []
    return sorted(r for r in (_relative(f, p) for f in files) if r)


def find_sizes(path: PathLike) -> dict[str, int]:
    """Like `find`, with each file's size in bytes: one walk locally, one listing on an object store."""
    loc = as_location(path)
    if isinstance(loc, Path):
        found = {}
        for dirpath, _, filenames in os.walk(loc):
            rel = Path(dirpath).relative_to(loc)
            for f in filenames:
                with contextlib.suppress(FileNotFoundError):  # removed since the walk listed it
                    found[(rel / f).as_posix()] = (Path(dirpath) / f).stat().st_size
        return found
    fs, p = _fs(loc, fresh=True)
    with remote_errors("list", loc):
        try:
            files = fs.find(p, detail=True)
        except FileNotFoundError:
            _raise_if_bucket_missing(fs, loc, p)
            return {}
    return {r: int(info.get("size") or 0) for f, info in files.items() if (r := _relative(f, p))}


def glob(path: PathLike, pattern: str) -> list[Location]:
    """Files and folders below `path` matching `pattern` (relative, e.g. "*/*.parquet"), sorted."""
    loc = as_location(path)
    if isinstance(loc, Path):
        return list(sorted(loc.glob(pattern)))
    fs, p = _fs(loc, fresh=True)
    with remote_errors("list", loc):
        matches = fs.glob(f"{p}/{pattern}")
    return sorted((loc / _relative(m, p) for m in matches), key=str)


def _raise_if_bucket_missing(fs: Any, loc: Url, p: str) -> None:
    if loc.protocol in BUCKET_STORES and not fs.exists(p.split("/", 1)[0]):
        raise FileNotFoundError("bucket not found")


def _relative(full: str, base: str) -> str:
    full, base = full.rstrip("/"), base.rstrip("/")
    return full[len(base) + 1:] if full.startswith(base + "/") else ""


# ---- reading ---------------------------------------------------------------------------------
def open_read(path: PathLike) -> BinaryIO:
    """A binary file object (the caller closes it). Remote files are read in large blocks."""
    loc = as_location(path)
    if isinstance(loc, Path):
        return open(loc, "rb")  # noqa: SIM115 - returned to the caller
    fs, p = _fs(loc, fresh=True)  # the size fsspec reads up to must be the object's current one
    with remote_errors("read", loc):
        handle: BinaryIO = fs.open(p, "rb")
        return handle


@contextlib.contextmanager
def parquet_file(path: PathLike) -> Iterator[Any]:
    """A pyarrow ParquetFile with its footer read (a remote file is read through fsspec in large
    blocks); pyarrow and OS errors pass through for the caller to word."""
    import pyarrow.parquet as pq

    loc = as_location(path)
    with contextlib.ExitStack() as stack:
        handle = stack.enter_context(open_read(loc)) if isinstance(loc, Url) else loc
        yield stack.enter_context(pq.ParquetFile(handle))


def read_bytes(path: PathLike) -> bytes:
    loc = as_location(path)
    if isinstance(loc, Path):
        return loc.read_bytes()
    fs, p = _fs(loc)
    with remote_errors("read", loc):
        data: bytes = fs.cat_file(p)
        return data


def read_text(path: PathLike) -> str:
    return read_bytes(path).decode("utf-8")


def read_many(paths: list[Location]) -> list[bytes]:
    """The bytes of several files, in order. Remote files are fetched concurrently per store (one batch
    of GETs instead of a round trip each), which is what makes reading many manifests fast."""
    fetched: dict[str, bytes] = {}
    by_store: dict[str, list[Url]] = {}
    for p in paths:
        if isinstance(p, Url):
            by_store.setdefault(p.protocol, []).append(p)
    for urls in by_store.values():
        fs, _ = _fs(urls[0])
        inside = {filesystem(u)[1]: u for u in urls}
        with remote_errors("read", urls[0].parent):
            got = fs.cat(list(inside), on_error="return")
        for key, url in inside.items():
            value = got.get(key, FileNotFoundError(key))
            if isinstance(value, BaseException):
                with remote_errors("read", url):
                    raise value
            fetched[url.url] = value
    return [fetched[p.url] if isinstance(p, Url) else read_bytes(p) for p in paths]


# ---- committing ------------------------------------------------------------------------------
def write_with(path: PathLike, fill: Callable[[BinaryIO], object], *, sync_dir: bool = True) -> Location:
    """Commit the bytes `fill(f)` writes, all or nothing: a local temp file renamed over the target, or one
    PUT of the whole object. sync_dir=False lets a caller committing many local files fsync their folder once."""
    loc = as_location(path)
    check_writable(loc)
    if isinstance(loc, Path):
        return atomic.atomic_write(loc, fill, sync_dir=sync_dir)
    buf = io.BytesIO()
    fill(buf)
    _put(loc, buf.getvalue())
    return loc


def write_bytes(path: PathLike, data: bytes, *, sync_dir: bool = True) -> Location:
    loc = as_location(path)
    check_writable(loc)
    if isinstance(loc, Path):
        return atomic.atomic_write_bytes(loc, data, sync_dir=sync_dir)
    _put(loc, data)
    return loc


def write_text(path: PathLike, text: str) -> Location:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: PathLike, obj: Any, *, indent: int | None = 2, sort_keys: bool = False,
               strict: bool = False) -> Location:
    """The same text as atomic.atomic_write_json (a final newline; strict=True refuses NaN)."""
    return write_text(path, atomic.json_text(obj, indent=indent, sort_keys=sort_keys, strict=strict))


def table_writer(table: Any, compression: str = "zstd") -> Callable[[BinaryIO], None]:
    """A `fill` for write_with / write_many that writes `table` as Parquet."""
    import pyarrow.parquet as pq

    return lambda f: pq.write_table(table, f, compression=compression)


def write_table(table: Any, path: PathLike, *, compression: str = "zstd", sync_dir: bool = True) -> Location:
    return write_with(path, table_writer(table, compression), sync_dir=sync_dir)


def write_many(files: dict[Location, Callable[[BinaryIO], object]]) -> None:
    """Commit several files, each all or nothing (no order among them: commit a marker afterwards).
    Local files are renamed into place and their folders fsynced once; remote files are uploaded
    concurrently, one PUT each, so a part with files in several folders costs one round trip, not one each."""
    remote: dict[Url, bytes] = {}
    folders: set[Path] = set()
    for loc, fill in files.items():
        check_writable(loc)
        if isinstance(loc, Path):
            atomic.atomic_write(loc, fill, sync_dir=False)
            folders.add(loc.parent)
        else:
            buf = io.BytesIO()
            fill(buf)
            remote[loc] = buf.getvalue()
    for folder in folders:
        atomic.fsync_dir(folder)
    if len(remote) == 1:
        _put(*next(iter(remote.items())))
    elif remote:
        first = next(iter(remote))
        fs, _ = _fs(first)
        with remote_errors("write", first.parent):
            fs.pipe({filesystem(u)[1]: data for u, data in remote.items()})


def _put(loc: Url, data: bytes) -> None:
    fs, p = _fs(loc)
    with remote_errors("write", loc):
        fs.pipe_file(p, data)


def sync_folder(path: PathLike) -> None:
    """Make renames inside a local folder durable; nothing to do on object stores (a PUT is durable)."""
    loc = as_location(path)
    if isinstance(loc, Path):
        atomic.fsync_dir(loc)


def makedirs(path: PathLike) -> None:
    """Create a local folder (and parents); object stores have no folders, so nothing happens there."""
    loc = as_location(path)
    check_writable(loc)
    if isinstance(loc, Path):
        loc.mkdir(parents=True, exist_ok=True)


# ---- removing --------------------------------------------------------------------------------
def remove(path: PathLike) -> None:
    """Delete one file; a file that is already gone is fine."""
    loc = as_location(path)
    if isinstance(loc, Path):
        loc.unlink(missing_ok=True)
        return
    check_writable(loc)
    fs, p = _fs(loc)
    with remote_errors("delete", loc), contextlib.suppress(FileNotFoundError):
        fs.rm_file(p)


def remove_tree(path: PathLike) -> None:
    """Delete a folder and everything below it; a missing folder is fine."""
    loc = as_location(path)
    if isinstance(loc, Path):
        if loc.exists():
            shutil.rmtree(loc)
        return
    check_writable(loc)
    fs, p = _fs(loc, fresh=True)
    with remote_errors("delete", loc):
        files = fs.find(p)
        if files:
            fs.rm(files)


def folder_name(path: PathLike) -> str:
    """The last part of a location's name, also for "." or a relative local path (titles, card names)."""
    loc = as_location(path)
    return loc.resolve().name if isinstance(loc, Path) else loc.name


# ---- local scratch for remote outputs --------------------------------------------------------
def local_work_dir(path: PathLike) -> Path:
    """Where a worker keeps node-local state for a location (the request cache, which SQLite needs on a
    local disk): the location itself when it is local, else a folder under $REPHRASER_LOCAL_DIR
    (default: $XDG_CACHE_HOME/rephraser or ~/.cache/rephraser) named after the URL."""
    loc = as_location(path)
    if isinstance(loc, Path):
        return loc
    root = os.environ.get("REPHRASER_LOCAL_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "rephraser")
    digest = hashlib.sha256(loc.url.encode()).hexdigest()[:16]
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in loc.name)[:60]
    return Path(root) / "remote" / f"{safe}-{digest}"
