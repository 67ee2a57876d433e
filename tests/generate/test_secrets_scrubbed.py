"""A server that echoes the API key back (in its error bodies, or inside its replies): the key appears in
no file of the run folder, no report, card or statistics, and no line printed (issue 21)."""

from __future__ import annotations

import os

import pytest

from helpers import ECHO_PROMPT, write_corpus
from rephraser.redact import MARKER, scrub

KEY = "sk-echo-TEST-7f3a9c2e5b1d"  # the configured key (engine.api_key_env)


def run_cli(*args: str):
    import subprocess
    import sys

    env = {**os.environ, "PYTHONUNBUFFERED": "1", "REPHRASER_TEST_KEY": KEY}
    return subprocess.run([sys.executable, "-m", "rephraser.cli", *args], capture_output=True, text=True,
                          timeout=300, env=env)


def assert_nowhere(out, printed: list[str]) -> None:
    for text in printed:
        assert KEY not in text, text
    for f in out.rglob("*"):
        if f.is_file():
            assert KEY.encode() not in f.read_bytes(), f"{f} holds the key"


@pytest.mark.parametrize("mode", ["fail", "reply"])
def test_an_echoed_key_is_stored_and_printed_nowhere(tmp_path, fake_server, mode):
    url = fake_server("--api-key", KEY, "--echo-headers", mode)
    out = tmp_path / "out"
    args = ["run", "--engine", "openai", "--base-url", url, "--model", "fake-model", "--api-key-env",
            "REPHRASER_TEST_KEY", "--source", str(write_corpus(tmp_path / "in.jsonl", 4)), "--prompts", ECHO_PROMPT,
            "--output", str(out), "--no-progress", "--config", str(tmp_path / "retry.yaml")]
    (tmp_path / "retry.yaml").write_text("retry: {max_attempts: 1}\n")
    run = run_cli(*args)
    printed = [run.stdout, run.stderr]
    if mode == "fail":  # every call failed: the error line quotes the server's message, scrubbed
        assert run.returncode == 2 and "endpoint looks broken" in run.stderr and MARKER in run.stderr, run.stderr
    else:
        assert run.returncode == 0, run.stderr
    for cmd in (["stats", str(out)], ["card", str(out)], ["report", str(out)], ["verify", str(out)]):
        p = run_cli(*cmd)
        assert p.returncode == 0, p.stderr
        printed += [p.stdout, p.stderr]
    assert_nowhere(out, printed)
    import pyarrow.parquet as pq

    folder = "dead_letter" if mode == "fail" else "data"
    rows = [r for f in (out / folder).rglob("*.parquet") for r in pq.read_table(f).to_pylist()]
    field = "reason" if mode == "fail" else "generation"
    assert rows and all(MARKER in r[field] for r in rows)  # scrubbed, not dropped: the row says why


def test_header_looking_values_are_scrubbed_without_knowing_them():
    echoed = ('{"headers": {"Authorization": "Bearer abcdef0123456789", "x-api-key": "k-98765432"}} '
              "api_key=zzzz1111yyyy; Authorization: Basic dXNlcjpwYXNzd29yZA==")
    clean = scrub(echoed)
    for secret in ("abcdef0123456789", "k-98765432", "zzzz1111yyyy", "dXNlcjpwYXNzd29yZA=="):
        assert secret not in clean
    assert "Authorization" in clean and "x-api-key" in clean  # which header it was stays readable
    assert scrub("engine.api_key_env names the variable; Bearer of bad news") == (
        "engine.api_key_env names the variable; Bearer of bad news")
