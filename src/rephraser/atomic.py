"""Atomic file writes: readers (and restarts after kill -9) see a whole file or none.

Write to a hidden temp file in the same folder, fsync it, rename it over the target, then fsync the
folder so the rename itself survives a power loss. Every stage that publishes files uses these.

Temp names are unique per process and call (`.NAME.HOST.PID.RANDOM.tmp`): several processes may
write the same target in one shared folder at once (the tasks of a Slurm array all write run.json and
config.yaml at start), and each rename then publishes one whole file. Leftover temps of a crashed
writer are removed only when their writer is provably gone (same host, pid no longer alive), so a
clean-up never pulls a file from under a live writer.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import secrets
import shutil
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any, BinaryIO, cast

from rephraser.errors import WriteError

TEMP_SUFFIX = ".tmp"
_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:40] or "host"
_TEMP_RE = re.compile(r"^\.(?P<name>.+)\.(?P<host>[A-Za-z0-9-]+)\.(?P<pid>\d+)\.[0-9a-f]+\.tmp$")


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_path(dest: Path) -> Path:
    """A hidden name beside `dest` that no other process or call uses."""
    return dest.with_name(f".{dest.name}.{_HOST}.{os.getpid()}.{secrets.token_hex(4)}{TEMP_SUFFIX}")


@contextmanager
def atomic_open(dest: str | Path, mode: str = "wb", *, encoding: str | None = None, newline: str | None = None,
                sync_dir: bool = True) -> Iterator[IO[Any]]:
    """`with atomic_open(dest, "w") as f:` — f is a temp file that replaces `dest` when the block ends
    without an exception (and is removed when it raises). For writers that stream (CSV, JSONL)."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files: mode must be 'w' or 'wb', not {mode!r}")
    dest = Path(dest)
    tmp = temp_path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        raw = open(tmp, "wb")  # noqa: SIM115 - closed by the with below
    except OSError as e:
        raise WriteError(f"cannot write {dest}: {e.strerror or e}") from None
    try:
        with raw:
            if mode == "w":
                text = io.TextIOWrapper(raw, encoding=encoding or "utf-8", newline=newline)
                yield text
                text.flush()
                text.detach()
            else:
                yield raw
            raw.flush()
            os.fsync(raw.fileno())
        try:
            os.replace(tmp, dest)
        except OSError as e:
            raise WriteError(f"cannot write {dest}: {e.strerror or e}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    if sync_dir:
        fsync_dir(dest.parent)


@contextmanager
def atomic_dir(dest: str | Path) -> Iterator[Path]:
    """`with atomic_dir(dest) as tmp:` — fill the temp folder `tmp`; when the block ends without an
    exception it replaces `dest` (absent or empty) whole, so a reader sees every file of it or none."""
    dest = Path(dest)
    tmp = temp_path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp.mkdir()
    except OSError as e:
        raise WriteError(f"cannot write {dest}: {e.strerror or e}") from None
    try:
        yield tmp
        for f in tmp.rglob("*"):
            if f.is_file():
                with open(f, "rb") as fh:
                    os.fsync(fh.fileno())
        if dest.is_dir():
            dest.rmdir()  # a folder is replaced only when empty: never merge into a finished one
        os.replace(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    fsync_dir(dest.parent)


def atomic_write(dest: str | Path, write: Callable[[BinaryIO], object], *, sync_dir: bool = True) -> Path:
    """`write(f)` fills a temp file that then replaces `dest`. sync_dir=False lets callers that write
    many files into one folder fsync the folder once at the end."""
    with atomic_open(dest, "wb", sync_dir=sync_dir) as f:
        write(cast(BinaryIO, f))  # "wb" mode: a binary file
    return Path(dest)


def atomic_write_bytes(dest: str | Path, data: bytes, *, sync_dir: bool = True) -> Path:
    return atomic_write(dest, lambda f: f.write(data), sync_dir=sync_dir)


def atomic_write_text(dest: str | Path, text: str) -> Path:
    return atomic_write_bytes(dest, text.encode("utf-8"))


def json_text(obj: Any, *, indent: int | None = 2, sort_keys: bool = False, strict: bool = False) -> str:
    """JSON + a final newline. strict=True refuses NaN (a NaN score is a bug, not a value) and writes
    other non-JSON types (paths, dates) as strings."""
    text = json.dumps(obj, indent=indent, sort_keys=sort_keys, ensure_ascii=False, allow_nan=not strict,
                      default=str if strict else None)
    return text + "\n"


def atomic_write_json(dest: str | Path, obj: Any, *, indent: int | None = 2, sort_keys: bool = False,
                      strict: bool = False) -> Path:
    return atomic_write_text(dest, json_text(obj, indent=indent, sort_keys=sort_keys, strict=strict))


def atomic_create(dest: str | Path, data: bytes) -> bool:
    """Create `dest` holding `data` only if nothing is there: True if this call created it, False if the
    name already existed. A synced temp is hard-linked to the name (link() fails on an existing name,
    also on NFS), so of several processes creating one name at once exactly one wins and readers never
    see a partial file."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_path(dest)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, dest)
        except FileExistsError:
            return False
        except OSError:
            # NFS may report a failed link() whose retransmitted request succeeded: trust the link count.
            if os.stat(tmp).st_nlink != 2:
                raise
    finally:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
    with contextlib.suppress(OSError):  # a mount that cannot sync a folder still has the link
        fsync_dir(dest.parent)
    return True


# ---- leftover temps ------------------------------------------------------------------------------
def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def is_stale_temp(path: Path) -> bool:
    """A temp left by a writer that is gone: written on this host by a pid that no longer runs (or in
    the fixed-name form of older versions, `.NAME.tmp`, which had no owner to ask). Temps of other
    hosts are never judged stale here: their writer may still be running."""
    name = path.name
    if not (name.startswith(".") and name.endswith(TEMP_SUFFIX)):
        return False
    m = _TEMP_RE.match(name)
    if m is None:
        return True  # legacy fixed name
    return m["host"] == _HOST and int(m["pid"]) != os.getpid() and not _alive(int(m["pid"]))


def remove_stale_temps(folder: Path, pattern: str = f".*{TEMP_SUFFIX}") -> int:
    """Delete the stale temps (see is_stale_temp) matching `pattern` in `folder`; returns how many."""
    removed = 0
    for f in Path(folder).glob(pattern):
        if is_stale_temp(f):
            if f.is_dir():
                shutil.rmtree(f, ignore_errors=True)  # an atomic_dir that never finished
            else:
                f.unlink(missing_ok=True)
            removed += 1
    return removed
