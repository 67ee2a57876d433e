"""fsspec underneath remote URLs: the filesystem for a Url, and remote failures as one-line errors.

Each protocol's library is an optional extra (s3fs, gcsfs, huggingface_hub); fsspec itself is small
and always installed, and https:// needs only aiohttp, which the OpenAI engine already brings.
Credentials are whatever the library finds in its usual places (AWS_* variables and ~/.aws for s3fs,
GOOGLE_APPLICATION_CREDENTIALS / gcloud for gcsfs, HF_TOKEN / `hf auth login` for hf://, fsspec's
own FSSPEC_<PROTOCOL>_<OPTION> variables and config files); rephraser never reads or records them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

from rephraser.errors import StorageError
from rephraser.storage.location import Url

# protocol -> (library that implements it, rephraser extra that installs it)
_EXTRAS = {
    "s3": ("s3fs", "s3"), "s3a": ("s3fs", "s3"),
    "gs": ("gcsfs", "gcs"), "gcs": ("gcsfs", "gcs"),
    "hf": ("huggingface_hub", "hub"),
}

# Exception class names (anywhere in the MRO) -> what to tell the user. Matched by name so that
# botocore, aiohttp and google-auth need not be importable for this module to work.
_BY_CLASS = (
    (("NoCredentialsError", "PartialCredentialsError", "DefaultCredentialsError"),
     "no credentials found (set them in the environment or the filesystem's config)"),
    (("EndpointConnectionError", "ConnectTimeoutError", "ClientConnectorError", "ServerTimeoutError",
      "ConnectionRefusedError", "ConnectionError", "TimeoutError", "gaierror"),
     "cannot reach the storage endpoint"),
)


def filesystem(url: Url) -> tuple[Any, str]:
    """(fsspec filesystem, path inside it) for `url`; a missing library is a one-line error naming the extra."""
    try:
        from fsspec.core import url_to_fs
    except ImportError:
        raise StorageError(f"{url}: remote locations need fsspec: pip install fsspec") from None
    try:
        fs, path = url_to_fs(url.url)
        return fs, str(path)
    except ImportError:
        lib, extra = _EXTRAS.get(url.protocol, (None, None))
        if extra:
            raise StorageError(f"{url}: {url.protocol}:// needs {lib}: pip install 'rephraser[{extra}]'") from None
        raise StorageError(f"{url}: no library for {url.protocol}:// is installed (see fsspec's list of "
                           "implementations)") from None
    except ValueError as e:
        raise StorageError(f"{url}: unsupported location ({_first_line(e)})") from None
    except Exception as e:  # noqa: BLE001 - a filesystem that fails to initialise: still one line
        raise StorageError(f"{url}: cannot open the filesystem: {describe(e)}") from None


@contextlib.contextmanager
def remote_errors(action: str, url: Url | str) -> Iterator[None]:
    """Turn any failure of the remote operation inside the block into `StorageError('cannot ACTION URL: why')`."""
    try:
        yield
    except StorageError:
        raise
    except Exception as e:  # noqa: BLE001 - every library raises its own types; all become one line
        raise StorageError(f"cannot {action} {url}: {describe(e)}") from None


def describe(e: BaseException) -> str:
    names = {c.__name__ for c in type(e).__mro__}
    for classes, text in _BY_CLASS:
        if names.intersection(classes):
            endpoint = _endpoint(e)
            return f"{text} {endpoint}" if endpoint and text.endswith("endpoint") else text
    msg = _first_line(e)
    if isinstance(e, FileNotFoundError):
        return "bucket not found" if "bucket" in msg.lower() else "not found"
    if isinstance(e, PermissionError):
        return f"access denied ({msg}); check the credentials and the permissions"
    if isinstance(e, FileExistsError):
        return "already exists"
    return msg


def _endpoint(e: BaseException) -> str | None:
    """scheme://host:port of the endpoint botocore could not reach (never a path, query or user info)."""
    url = (getattr(e, "kwargs", None) or {}).get("endpoint_url")
    if not isinstance(url, str):
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}" if parts.hostname else None


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__
