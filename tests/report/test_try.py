"""`rephraser try`: both texts and the verdict per document (embedded model), --watch re-running once after
an edit with unchanged calls free (fake OpenAI server), and one-line errors for bad input."""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pyarrow.parquet as pq
import pytest

from helpers import ECHO_PROMPT, run_cli

ECHO = Path(ECHO_PROMPT)




def first_words(text: str, n: int = 4) -> str:
    return " ".join(text.split()[:n])


@pytest.mark.model
def test_try_on_the_embedded_model_shows_both_texts_and_each_verdict(tmp_path, monkeypatch, capsys) -> None:
    work = tmp_path / "try"
    code, out, err = run_cli(monkeypatch, capsys, "try", "faq", "--docs", "2", "--max-tokens", "24", "--n-ctx", "1024",
                             "--workdir", str(work))
    assert code == 0, err
    folder = next(p for p in work.iterdir() if p.is_dir() and p.name != "inputs")  # inputs/: the sampled documents
    rows = [r for f in sorted(folder.glob("*/*/*.parquet")) for r in pq.read_table(f).to_pylist()]
    assert len(rows) == 2
    for row in rows:
        assert first_words(row["source_text"]) in out  # the source, in the left column
        assert first_words(row["generation"] or "") in out  # its output, in the right column
        verdict = "pass" if row["reason"] is None else "fail"
        assert re.search(rf"\[[12]/2\] {re.escape(row['id'])}  {verdict}", out), out
        if verdict == "fail":
            assert "failed rule:" in out
    assert "opening collapse" in out and "distinct-1/2/3" in out and "2 to the engine" in out
    page = (work / "faq.html").read_text(encoding="utf-8")
    assert page.count('class="vrow ') == 2 and "source document" in page


def _read_lines(stream, sink: queue.Queue) -> None:
    for line in stream:
        sink.put(line)
    sink.put(None)


def _requests(url: str) -> int:
    return httpx.get(f"{url}/stats").json()["requests"]


def test_watch_reruns_after_an_edit_and_unchanged_calls_are_free(tmp_path, fake_server) -> None:
    url = fake_server()
    prompt = tmp_path / "echo.yaml"
    prompt.write_text(ECHO.read_text(encoding="utf-8"), encoding="utf-8")
    work = tmp_path / "try"
    args = [sys.executable, "-m", "rephraser.cli", "try", str(prompt), "--docs", "3", "--engine", "openai",
            "--base-url", url, "--model", "fake-model", "--max-tokens", "200", "--workdir", str(work), "--seed", "7"]
    env = {**{k: v for k, v in os.environ.items() if k != "COLUMNS"}, "PYTHONUNBUFFERED": "1"}  # plain form
    proc = subprocess.Popen([*args, "--watch", "--max-runs", "2", "--poll", "0.2"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=_read_lines, args=(proc.stdout, lines), daemon=True).start()
    seen: list[str] = []
    try:
        deadline = time.monotonic() + 240  # generous: the machine may be loaded
        while not any(line.startswith("watching") for line in seen):
            assert time.monotonic() < deadline, "first run did not finish:\n" + "".join(seen)
            try:
                line = lines.get(timeout=1)
            except queue.Empty:
                continue
            assert line is not None, "exited before watching:\n" + "".join(seen)
            seen.append(line)
        assert _requests(url) == 3
        prompt.write_text(prompt.read_text(encoding="utf-8").replace("Restate the following", "Rewrite the next"),
                          encoding="utf-8")
        assert proc.wait(timeout=240) == 0, "".join(seen)
    finally:
        proc.kill()
    while (line := lines.get(timeout=30)) is not None:
        seen.append(line)
    text = "".join(seen)
    hashes = [line.split("hash ")[1].split(",")[0] for line in seen if line.startswith("prompt: ") and "(hash " in line]
    assert len(hashes) == 2 and hashes[0] != hashes[1], text  # ran once more, with the edited prompt
    assert _requests(url) == 6 and text.count("3 to the engine") == 2

    # the same prompt version again: the trial folder resumes, no call is sent
    again = subprocess.run(args, capture_output=True, text=True, env=env, timeout=240)
    assert again.returncode == 0, again.stderr
    assert "0 to the engine" in again.stdout and "3 document(s) reused" in again.stdout and _requests(url) == 6
    page = (work / "echo.html").read_text(encoding="utf-8")
    assert page.count('class="vrow ') == 3 and "Rewrite the next" in page


def test_bad_input_is_one_line(tmp_path, monkeypatch, capsys) -> None:
    code, out, err = run_cli(monkeypatch, capsys, "try", str(tmp_path / "missing.yaml"))
    assert code == 2 and err.strip().splitlines() == [f"error: prompt file not found: {tmp_path / 'missing.yaml'}"]

    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    code, out, err = run_cli(monkeypatch, capsys, "try", str(ECHO), "--source", str(empty), "--engine", "openai",
                             "--base-url", "http://127.0.0.1:9", "--workdir", str(tmp_path / "w"))
    assert code == 2 and err.strip().splitlines() == [f"error: source {empty} has no usable document (it is empty)"]

    blank = tmp_path / "blank.jsonl"
    blank.write_text(json.dumps({"id": "a", "text": "  "}) + "\n", encoding="utf-8")
    code, out, err = run_cli(monkeypatch, capsys, "try", str(ECHO), "--source", str(blank), "--engine", "openai",
                             "--base-url", "http://127.0.0.1:9", "--workdir", str(tmp_path / "w"))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "has no usable document (1x " in err

    code, out, err = run_cli(monkeypatch, capsys, "try", "faq", "--watch")
    assert code == 2 and len(err.strip().splitlines()) == 1 and "library prompt" in err and "faq.yaml" in err
