"""Ctrl-C during `rephraser experiment run` ends with one line on stderr (no silent exit, no traceback,
no library noise), wherever in the generate stage it lands."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import yaml

from helpers import ECHO_PROMPT, write_corpus


def grid(tmp_path, url: str):
    cfg = {
        "name": "tiny", "output": str(tmp_path / "out"), "prompts": [ECHO_PROMPT],
        "generators": {"fake": {"engine": {"kind": "openai", "base_url": url, "model": "fake-model"}}},
        "sources": {"docs": {"source": {"path": str(write_corpus(tmp_path / "corpus.jsonl", 40))}, "rephrase_docs": 30}},
        "generation": {"sampling": {"max_tokens": 64}}, "mix": {"ratios": [0.5], "tokens": 20000}, "seeds": [0],
        "tokenizer": {"vocab_size": 400},
        "train": {"preset": "tiny-1m", "steps": 4, "batch_size": 4, "seq_len": 64, "eval_every": 2, "log_every": 2},
        "eval": {"tasks": ["arc_easy"], "max_items": 4, "num_fewshot": 1, "heldout_docs": 20, "heldout_fraction": 0.1},
    }
    p = tmp_path / "grid.yaml"
    p.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return p


@pytest.mark.parametrize("after_s", [0.0, 1.5])
def test_ctrl_c_during_an_experiment_ends_with_one_line(tmp_path, fake_server, after_s):
    url = fake_server("--delay-ms", "600000")  # every request waits: the stage is surely still running
    config = grid(tmp_path, url)
    p = subprocess.Popen([sys.executable, "-m", "rephraser.cli", "experiment", "run", str(config), "--only", "echo*"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 300
    while not list((tmp_path / "out" / "stages").glob("generate/*")):
        assert p.poll() is None and time.monotonic() < deadline, p.stderr.read() if p.poll() is not None else "slow"
        time.sleep(0.1)
    time.sleep(after_s)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=300)
    lines = [line for line in err.splitlines() if line.strip()]
    assert p.returncode in (2, 130), err
    assert len(lines) == 1 and "interrupted" in lines[0] and "rerun the same command" in lines[0], err
