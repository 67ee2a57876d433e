"""`rephraser try` picks a random sample (seed printed, `--seed` takes it again) or `--offset` documents,
lists each document as its calls finish, fits the terminal's width or prints plain when piped, and says
how little a diversity figure over a handful of outputs means."""

from __future__ import annotations

import io
import json
import re
import sys
from pathlib import Path

import pytest
from rich.console import Console

from helpers import ECHO_PROMPT
from rephraser.cli import main
from rephraser.config import RunConfig, SourceConfig
from rephraser.errors import ConfigError
from rephraser.report.trial import pick_documents, run_trial
from rephraser.report.trial_view import print_trial, small_n, summary_facts

LONG = "The river carries silt from the highlands to the delta, where farmers have used it for centuries. " * 4


def corpus(path: Path, n: int = 40) -> Path:
    with open(path, "w", encoding="utf-8") as f:
        for i in range(n):
            f.write(json.dumps({"id": f"d{i:03d}", "text": f"Doc {i}. {LONG}", "license": "CC0-1.0"}) + "\n")
    return path


def test_a_sample_is_seeded_spread_over_the_source_and_in_source_order(tmp_path):
    src = SourceConfig(path=str(corpus(tmp_path / "c.jsonl")))
    docs, sel = pick_documents(src, 5, seed=1)
    again, _ = pick_documents(src, 5, seed=1)
    other, _ = pick_documents(src, 5, seed=2)
    ids = [d.id for d in docs]
    assert ids == [d.id for d in again] and ids != [d.id for d in other]
    assert ids == sorted(ids) and ids != [f"d{i:03d}" for i in range(5)]  # not simply the first five
    assert sel.usable == 40 and "seed 1" in sel.describe() and docs[0].metadata == {"license": "CC0-1.0"}
    first, sel = pick_documents(src, 3, offset=10)
    assert [d.id for d in first] == ["d010", "d011", "d012"] and "documents 11-13" in sel.describe()
    with pytest.raises(ConfigError, match="--offset 40 is past the end: .* has 40 usable"):
        pick_documents(src, 3, offset=40)


def _run(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["rephraser", *args])
    monkeypatch.delenv("COLUMNS", raising=False)
    try:
        main()
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_try_prints_its_seed_lists_calls_as_they_finish_and_prints_plain_when_piped(tmp_path, monkeypatch, capsys,
                                                                                    fake_server):
    url = fake_server()
    common = ["try", ECHO_PROMPT, "--source", str(corpus(tmp_path / "c.jsonl")), "--sample", "3", "--engine",
              "openai", "--base-url", url, "--model", "fake-model", "--max-tokens", "200",
              "--workdir", str(tmp_path / "w")]
    code, out, err = _run(monkeypatch, capsys, *common)
    assert code == 0, err
    seed = re.search(r"a random sample of 3 of 40 usable documents, seed (\d+)", out).group(1)
    live = re.findall(r"^  \[(\d)/3\] (d\d{3}): \d+ output tokens, finish \w+", out, re.M)
    assert [n for n, _ in live] == ["1", "2", "3"]  # one line per document as it finished
    assert "╭" not in out and any(len(line) > 200 for line in out.splitlines())  # no box, no width to wrap at
    assert re.search(r"opening collapse: .* over 3 outputs .*\[only 3 outputs: steps of 0\.33", out)
    # the printed seed takes the same documents (and the same folder: nothing is generated again)
    code, again, err = _run(monkeypatch, capsys, *common, "--seed", seed)
    assert code == 0, err
    assert sorted(i for _, i in live) == sorted(re.findall(r"^=== \[\d/3\] (d\d{3})", again, re.M))
    assert "0 to the engine" in again and "3 document(s) reused" in again
    page = (tmp_path / "w" / "echo.html").read_text(encoding="utf-8")
    assert f"seed {seed} (--seed {seed} takes the same documents again)" in page
    code, first, err = _run(monkeypatch, capsys, *common, "--offset", "0")
    assert code == 0 and re.findall(r"^=== \[\d/3\] (d\d{3})", first, re.M) == ["d000", "d001", "d002"]


def test_on_a_terminal_the_view_follows_its_width(tmp_path, fake_server):
    base = RunConfig.model_validate({"source": {"path": str(corpus(tmp_path / "c.jsonl", 6))},
                                     "engine": {"kind": "openai", "base_url": fake_server(), "model": "fake-model"},
                                     "sampling": {"max_tokens": 200}})
    trial = run_trial(ECHO_PROMPT, base, docs=2, workdir=tmp_path / "w", seed=3)
    for width in (72, 130):
        buf = io.StringIO()
        print_trial(trial, Console(file=buf, width=width, force_terminal=True, color_system=None))
        lines = buf.getvalue().splitlines()
        assert max(len(line) for line in lines) == width  # the panels span the terminal, no wider


def test_every_small_n_figure_says_so():
    assert small_n(3) == " [only 3 outputs: steps of 0.33; a hint, not a measurement]"
    assert small_n(1, share=False) == " [only 1 output: a hint, not a measurement]"
    assert small_n(30) == "" and "nothing measured" in small_n(0)


def test_summary_caveats_reach_the_page_too(tmp_path, fake_server):
    base = RunConfig.model_validate({"source": {"path": str(corpus(tmp_path / "c.jsonl", 4))},
                                     "engine": {"kind": "openai", "base_url": fake_server(), "model": "fake-model"}})
    facts = dict(summary_facts(run_trial(ECHO_PROMPT, base, docs=2, workdir=tmp_path / "w", seed=0)))
    assert all("[only 2 outputs" in facts[k] for k in ("opening collapse", "distinct-1/2/3", "faithfulness"))
