"""Locations: a plain local `Path`, or a `Url` for anything with a scheme (s3://, gs://, hf://, https://).

`file://` URLs become plain Paths, so local work never touches fsspec. A Url behaves like the few
pathlib pieces the stages use (`/`, `.name`, `.parent`, `.relative_to`), so code that builds paths
below an output folder reads the same for both kinds.

URLs that carry credentials (`s3://key:secret@bucket`, signed query strings) are refused: every
location ends up in config.yaml, run.json, rows' origins and log lines. Credentials belong in each
filesystem's usual environment or config file.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import parse_qsl, urlsplit

from rephraser.errors import ConfigError, StorageError

_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.-]+)://")
# Query parameters that carry a secret (presigned S3/GCS URLs, SAS tokens, API keys).
_SECRET_PARAMS = {"x-amz-signature", "x-amz-credential", "x-amz-security-token", "x-goog-signature",
                  "x-goog-credential", "signature", "sig", "token", "access_token", "api_key", "apikey"}
READ_ONLY = {"http", "https", "hf"}  # hf:// outputs go through `rephraser push` / output.hub_repo instead


@dataclass(frozen=True)
class Url:
    """A remote location, kept as its normalised URL string ("s3://bucket/key", no trailing slash)."""

    url: str

    @property
    def protocol(self) -> str:
        return self.url.split("://", 1)[0].lower()

    @property
    def name(self) -> str:
        return self.url.rstrip("/").rsplit("/", 1)[-1]

    @property
    def parent(self) -> Url:
        head, sep, _ = self.url.rpartition("/")
        return Url(head) if sep and not head.endswith(":/") else self

    def __truediv__(self, part: str | os.PathLike[str]) -> Url:
        part = os.fspath(part).strip("/")
        return Url(f"{self.url}/{part}") if part else self

    def relative_to(self, other: Url) -> PurePosixPath:
        prefix = other.url.rstrip("/") + "/"
        if not self.url.startswith(prefix):
            raise ValueError(f"{self.url} is not below {other.url}")
        return PurePosixPath(self.url[len(prefix):])

    def with_name(self, name: str) -> Url:
        return self.parent / name

    def __str__(self) -> str:
        return self.url


Location = Path | Url
PathLike = str | os.PathLike[str] | Url


def scheme_of(path: PathLike) -> str | None:
    """The URL scheme of `path` ("s3", "file", ...) or None for a plain path."""
    if isinstance(path, Url):
        return path.protocol
    m = _SCHEME.match(os.fspath(path)) if isinstance(path, str) else None
    return m.group(1).lower() if m else None


def is_remote(path: PathLike) -> bool:
    return scheme_of(path) not in (None, "file")


def as_location(path: PathLike) -> Location:
    """A Path for plain paths and file:// URLs, a checked Url for everything else."""
    if isinstance(path, Url | Path):
        return path
    text = os.fspath(path)
    scheme = scheme_of(text)
    if scheme is None:
        return Path(text)
    if scheme == "file":
        return Path(urlsplit(text).path)
    _refuse_credentials(text)
    head, rest = text.split("://", 1)
    rest = rest.rstrip("/")
    if not rest:
        raise StorageError(f"{text}: a URL needs a bucket/host after '{head}://'")
    return Url(f"{head.lower()}://{rest}")


def _refuse_credentials(url: str) -> None:
    parts = urlsplit(url)
    if parts.username is not None or parts.password is not None:
        raise StorageError(
            f"{parts.scheme}://…@{parts.hostname or ''}: credentials inside a URL would be written into "
            "config.yaml, rows and logs; give them through the environment or the filesystem's config instead")
    secret = sorted({k for k, _ in parse_qsl(parts.query, keep_blank_values=True) if k.lower() in _SECRET_PARAMS})
    if secret:
        raise StorageError(
            f"{parts.scheme}://{parts.netloc}{parts.path}: the query string carries credentials ({', '.join(secret)}) "
            "that would be written into config.yaml, rows and logs; use credentials from the environment instead")


def local_only(path: PathLike, what: str, why: str) -> Path:
    """`path` as a local Path, for the few places that need a real file system (memory-mapped token
    shards, torch checkpoints); a URL is one line: `WHAT URL: WHY, so ... local or shared filesystem`."""
    if is_remote(path):
        raise ConfigError(f"{what} {path}: {why}, so it must be a local or shared-filesystem folder")
    return Path(str(as_location(path)))


def check_writable(loc: Location) -> None:
    if isinstance(loc, Url) and loc.protocol in READ_ONLY:
        hint = " (publish a run with `rephraser push` instead)" if loc.protocol == "hf" else ""
        raise StorageError(f"{loc}: {loc.protocol}:// locations are read-only here{hint}")
