"""Fixtures for storage tests: one moto S3 server on loopback per session, a fresh bucket per test.

`s3` sets the AWS_* environment (inherited by CLI subprocesses) and yields the bucket's URL; fsspec's
cached filesystem instances are dropped afterwards so the next test sees its own environment.
"""

from __future__ import annotations

import importlib.util
import uuid
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "s3_server", Path(__file__).resolve().parents[1] / "fakes" / "s3_server.py")
s3_server_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(s3_server_module)  # type: ignore[union-attr]
SECRET_KEY = s3_server_module.SECRET_KEY
ACCESS_KEY = s3_server_module.ACCESS_KEY


def clear_fsspec_instances() -> None:
    import fsspec

    for cls in fsspec.registry.values():
        cls.clear_instance_cache()
    try:
        import s3fs

        s3fs.S3FileSystem.clear_instance_cache()
    except ImportError:
        pass


@pytest.fixture(scope="session")
def s3_endpoint():
    pytest.importorskip("moto.server", reason="needs moto[server] (dev extra)")
    pytest.importorskip("s3fs", reason="needs s3fs (s3 extra)")
    proc, endpoint = s3_server_module.start_s3_server()
    yield endpoint
    proc.kill()
    proc.wait(timeout=10)


def new_bucket(endpoint: str) -> str:
    import s3fs

    name = f"t-{uuid.uuid4().hex[:16]}"
    fs = s3fs.S3FileSystem(key=ACCESS_KEY, secret=SECRET_KEY, endpoint_url=endpoint, skip_instance_cache=True)
    fs.mkdir(name)
    return name


@pytest.fixture
def s3(s3_endpoint, monkeypatch):
    """URL of a new empty bucket ("s3://t-…"); the environment points boto at the loopback server."""
    for k, v in s3_server_module.s3_env(s3_endpoint).items():
        monkeypatch.setenv(k, v)
    clear_fsspec_instances()
    yield f"s3://{new_bucket(s3_endpoint)}"
    clear_fsspec_instances()


@pytest.fixture
def s3_env(s3_endpoint):
    return s3_server_module.s3_env(s3_endpoint)


@pytest.fixture
def s3_credentials() -> tuple[str, str]:
    """The access key id and secret the `s3` environment carries (tests look for them in outputs)."""
    return ACCESS_KEY, SECRET_KEY


@pytest.fixture
def auth_s3(s3_endpoint):
    """A second moto server that checks signatures: every key is unknown to it, so every call is refused."""
    proc, endpoint = s3_server_module.start_s3_server(auth=True)
    yield endpoint
    proc.kill()
    proc.wait(timeout=10)


@pytest.fixture
def clear_filesystems():
    """Drop fsspec's cached filesystem instances (they keep the environment they were made with)."""
    return clear_fsspec_instances
