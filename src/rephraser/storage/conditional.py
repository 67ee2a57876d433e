"""Create-if-absent on object stores, and the lease records (`rephraser.lease`) kept there.

S3 (and stores that implement its conditional writes) refuses a PUT carrying `If-None-Match: *`
when the key exists, atomically on the server: of several writers exactly one creates the object.
s3fs sends that header for `pipe_file(..., mode="create")` (botocore > 1.35.20) and moto honours it.
Other object stores reached through fsspec (gs://, az://) are not verified here: there a create is
check-then-PUT, which two writers starting within the same few milliseconds can both pass, so
leases on them are advisory and `create_exclusive` says so once per location.
"""

from __future__ import annotations

from pathlib import Path

from rephraser.lease import LeaseStore, PosixLeaseStore
from rephraser.logs import get_logger
from rephraser.storage.files import _fs, exists, listdir, remove, write_bytes
from rephraser.storage.location import PathLike, Url, as_location, check_writable
from rephraser.storage.remote import remote_errors

log = get_logger(__name__)

ATOMIC_CREATE = {"s3", "s3a"}  # conditional PUT verified (moto in tests; AWS S3 documents it)
_warned: set[str] = set()


def atomic_create_supported(path: PathLike) -> bool:
    loc = as_location(path)
    return isinstance(loc, Path) or loc.protocol in ATOMIC_CREATE


def create_exclusive(url: Url, data: bytes) -> bool:
    """PUT `data` only if nothing is at `url`; True if this call created it."""
    check_writable(url)
    fs, p = _fs(url)
    if url.protocol not in ATOMIC_CREATE:
        if url.protocol not in _warned:
            _warned.add(url.protocol)
            log.warning(f"{url.protocol}:// has no verified create-if-absent here: single-writer leases on {url.parent} "
                        "are advisory (start one writer per output folder and shard)")
        if exists(url):
            return False
        write_bytes(url, data)
        return True
    with remote_errors("create", url):
        try:
            fs.pipe_file(p, data, mode="create")
        except FileExistsError:
            return False
    return True


class ObjectLeaseStore:
    """`rephraser.lease.LeaseStore` on an object store: records are objects `<root>/<name>/<generation>.json`.
    create = PUT If-None-Match, replace = PUT (the holder is the only writer of its generation),
    generations = LIST of the name's prefix (strongly consistent on S3)."""

    def __init__(self, root: Url):
        self.root = root

    def where(self, name: str) -> str:
        return str(self.root / name)

    def _url(self, name: str, gen: int) -> Url:
        return self.root / name / f"{gen:010d}.json"

    def generations(self, name: str) -> list[int]:
        names = listdir(self.root / name)
        return sorted(int(n[:-5]) for n in names if n.endswith(".json") and n[:-5].isdigit())

    def create(self, name: str, gen: int, data: bytes) -> bool:
        return create_exclusive(self._url(name, gen), data)

    def read(self, name: str, gen: int) -> bytes | None:
        url = self._url(name, gen)
        fs, p = _fs(url)
        with remote_errors("read", url):
            try:
                data: bytes = fs.cat_file(p)
                return data
            except FileNotFoundError:
                return None

    def replace(self, name: str, gen: int, data: bytes) -> None:
        write_bytes(self._url(name, gen), data)

    def delete(self, name: str, gen: int) -> None:
        remove(self._url(name, gen))


def lease_store(root: PathLike) -> LeaseStore:
    """The lease backend for a folder: files with link()/rename() locally, conditional PUTs remotely."""
    loc = as_location(root)
    if isinstance(loc, Path):
        return PosixLeaseStore(loc)
    return ObjectLeaseStore(loc)


__all__ = ["ObjectLeaseStore", "atomic_create_supported", "create_exclusive", "lease_store"]
