"""Edges of `rephraser run` that used to lose data or fail badly: flags applied before validation,
duplicate prompt names, unreadable input, an output inside its own source, file names that are not
UTF-8, and Ctrl-C (a second Ctrl-C: test_interrupts.py)."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys

import httpx
import yaml

from helpers import ECHO_PROMPT, cli, fake_run_args, read_rows, wait_for, write_corpus
from rephraser.config import RunConfig
from rephraser.generate.runner import run_config


def test_flags_complete_a_yaml_before_it_is_validated(tmp_path):
    (tmp_path / "run.yaml").write_text("engine: {kind: openai, model: served}\nsampling: {max_tokens: 32}\n")
    p = cli("run", "--config", str(tmp_path / "run.yaml"), "--base-url", "http://127.0.0.1:9/v1", "--print-config")
    cfg = yaml.safe_load(p.stdout)
    assert cfg["engine"]["base_url"] == "http://127.0.0.1:9/v1" and cfg["sampling"]["max_tokens"] == 32


def test_refused_before_any_output_exists(tmp_path):
    out = tmp_path / "out"
    mine = tmp_path / "faq.yaml"  # a user's prompt that reuses a library prompt's name
    mine.write_text(yaml.safe_dump({"name": "faq", "family": "mine", "version": "1", "intent": "x",
                                    "template": "Rewrite as an FAQ.\n\nDocument:\n{document}"}))
    corpus = write_corpus(tmp_path / "in.jsonl", 3)
    base = ["run", "--engine", "openai", "--base-url", "http://127.0.0.1:9", "--output", str(out), "--no-progress"]
    p = cli(*base, "--source", str(corpus), "--prompts", f"faq,{mine}", check=False)
    assert p.returncode == 2 and "both named 'faq'" in p.stderr and str(mine) in p.stderr
    (tmp_path / "broken.jsonl.gz").write_bytes(gzip.compress(b'{"id": "a", "text": "x"}\n')[:-12] + b"garbage!")
    p = cli(*base, "--source", str(tmp_path / "broken.jsonl.gz"), check=False)
    assert p.returncode == 2 and "broken.jsonl.gz" in p.stderr
    assert not out.exists()  # nothing was created for a run that could not start


def test_output_inside_the_source_folder_is_refused(tmp_path):
    src = tmp_path / "data"
    src.mkdir()
    write_corpus(src / "a.jsonl", 3)
    p = cli("run", "--engine", "openai", "--base-url", "http://127.0.0.1:9", "--source", str(src),
            "--output", str(src / "out"), "--no-progress", check=False)
    assert p.returncode == 2 and "inside the source folder" in p.stderr


def test_non_utf8_file_names_run_end_to_end(tmp_path, fake_server):
    url = fake_server()
    src = tmp_path / "src"
    src.mkdir()
    with open(os.path.join(os.fsencode(src), b"caf\xe9.jsonl"), "wb") as f:
        f.write(b'{"id": "a", "text": "a document about a river and its valley"}\n{broken\n')
    cfg = RunConfig.model_validate({
        "source": {"path": str(src)}, "prompts": [ECHO_PROMPT], "output": {"dir": str(tmp_path / "out")},
        "engine": {"kind": "openai", "base_url": url, "model": "fake-model"}})
    stats = run_config(cfg, progress=False)
    assert stats.conservation_ok
    row = read_rows(tmp_path / "out")[0]
    assert row["source_origin"] == f"{src}/caf\\xe9.jsonl:1"
    rejected = read_rows(tmp_path / "out", "rejected")
    assert rejected[0]["id"] == "caf\\xe9.jsonl:2"
    # the figure per 1B tokens is named after the device it ran on: a server's hardware is unknown
    session = stats.to_json()["session"]
    assert session["device"] == "server" and "gpu_hours_per_billion_tokens" not in session


def test_ctrl_c_stops_at_once_without_waiting_for_slow_requests(tmp_path, fake_server):
    url = fake_server("--delay-ms", "120000")  # requests that would take two minutes each
    corpus = write_corpus(tmp_path / "in.jsonl", 20)
    out = tmp_path / "out"
    p = subprocess.Popen([sys.executable, "-m", "rephraser.cli", *fake_run_args(url, corpus, out)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: httpx.get(f"{url}/stats").json()["requests"] >= 1, what="requests in flight")
        os.kill(p.pid, signal.SIGINT)
        _, err = p.communicate(timeout=90)  # well before any request could have finished
    finally:
        p.kill()
    assert p.returncode == 2 and err.startswith("error: interrupted by SIGINT") and "Traceback" not in err
    assert "Ctrl-C again" in err
