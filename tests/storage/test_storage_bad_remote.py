"""Bad remote inputs and outputs through the CLI: a missing bucket or object, refused credentials, no
credentials, an unreachable endpoint. Each is one `error:` line naming the URL, exit status 2, and
nothing is written anywhere (the source is checked before the output is touched)."""

from __future__ import annotations

import socket
import sys

import pytest

from helpers import ECHO_PROMPT
from rephraser import storage
from rephraser.cli import main


@pytest.fixture
def cli(monkeypatch, capsys, clear_filesystems):
    """Run the CLI in this process (as a user would see it: stderr and exit status) with extra environment."""

    def run(env: dict[str, str], source: str, out: str) -> tuple[int, str]:
        with monkeypatch.context() as m:
            for k, v in {**env, "AWS_MAX_ATTEMPTS": "1"}.items():  # botocore: fail fast when unreachable
                m.setenv(k, v)
            m.setattr(sys, "argv", ["rephraser", "run", "--engine", "openai", "--base-url", "http://127.0.0.1:9/v1",
                                    "--model", "m", "--source", source, "--prompts", ECHO_PROMPT, "--output", out,
                                    "--no-progress"])
            clear_filesystems()  # filesystems are cached per process: pick up this environment
            capsys.readouterr()
            with pytest.raises(SystemExit) as e:
                main()
            clear_filesystems()
            return e.value.code, capsys.readouterr().err

    return run


def _one_line_error(result: tuple[int, str], *expected: str) -> str:
    code, err = result
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def test_missing_bucket_object_and_output_bucket(s3, cli, tmp_path):
    storage.write_bytes(f"{s3}/in.jsonl", b'{"id": "a", "text": "hello there"}\n')
    gone = s3.replace("s3://", "s3://gone-")
    local_out = tmp_path / "out"

    _one_line_error(cli({}, f"{gone}/in.jsonl", str(local_out)), f"{gone}/in.jsonl")
    _one_line_error(cli({}, f"{s3}/missing.jsonl", f"{s3}/out"), f"source path not found: {s3}/missing.jsonl")
    assert not local_out.exists() and storage.find(f"{s3}/out") == []

    _one_line_error(cli({}, f"{s3}/in.jsonl", f"{gone}/out"), f"{gone}/out", "bucket not found")
    _one_line_error(cli({}, f"{s3}/in.jsonl", "https://example.org/out"), "https://example.org/out", "read-only")


def test_refused_missing_and_unreachable_credentials(s3_env, auth_s3, cli, tmp_path):
    out = tmp_path / "out"
    refused = {**s3_env, "AWS_ENDPOINT_URL_S3": auth_s3}
    msg = _one_line_error(cli(refused, "s3://data/in.jsonl", str(out)), "s3://data/in.jsonl", "access denied")
    assert s3_env["AWS_SECRET_ACCESS_KEY"] not in msg

    no_keys = {k: v for k, v in s3_env.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")}
    env = {**no_keys, "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"), "AWS_CONFIG_FILE": str(tmp_path / "none")}
    _one_line_error(cli({**env, "AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}, "s3://data/in.jsonl", str(out)),
                    "s3://data/in.jsonl", "no credentials found")

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    unreachable = {**s3_env, "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{port}"}
    _one_line_error(cli(unreachable, "s3://data/in.jsonl", str(out)), "s3://data/in.jsonl",
                    f"cannot reach the storage endpoint http://127.0.0.1:{port}")
    assert not out.exists()
