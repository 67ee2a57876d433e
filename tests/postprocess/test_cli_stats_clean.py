"""`rephraser stats` and `rephraser clean` end to end through the CLI."""

from __future__ import annotations

import json
import subprocess
import sys

import yaml
from typer.testing import CliRunner

from rephraser.cli import app
from rephraser.prompts.registry import library


def _rows(mkrow):
    qa = "Q: What is it?\nA: A river.\nQ: Where?\nA: In Africa, flowing north to the sea."
    return [
        mkrow("a", gen=qa, model="m1"),
        mkrow("b", gen=qa.replace("river", "lake"), model="m2"),
        mkrow("c", status="rejected", gen="just prose here", reason="fewer than 2 question-answer pairs", model="m1"),
        mkrow("d", status="failed", gen=None, reason="timeout", model="m2"),
    ]


def test_stats_table_and_json_file(make_run, mkrow):
    out = make_run(_rows(mkrow))
    (out / "stats.json").write_text('{"runner": true}')
    res = CliRunner().invoke(app, ["stats", str(out), "--opening-words", "2"])
    assert res.exit_code == 0, res.output
    assert "faq" in res.output and "compliance" in res.output and "by model" in res.output
    assert "q what" in res.output  # the top opening (2 words) is listed
    assert "rule validator:qa_pairs" in res.output and "[0.75-0.76]" in res.output  # not eaten as markup
    written = json.loads((out / "stats_quality.json").read_text())
    assert written["opening_words"] == 2 and written["prompts"]["faq"]["format_compliance"] == round(2 / 3, 4)
    assert json.loads((out / "stats.json").read_text()) == {"runner": True}  # the runner's file is untouched


def test_stats_json_output(make_run, mkrow):
    out = make_run(_rows(mkrow))
    res = CliRunner().invoke(app, ["stats", str(out), "--json", "--no-quality"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["models"] == ["m1", "m2"] and "quality" not in data["prompts"]["faq"]
    assert data["by_model"]["faq"]["m2"]["failed"] == 1


def test_clean_cli_moves_rows(make_run, mkrow, tmp_path):
    # the content floor off: these rows' sources are placeholders, and the move a looser format makes is tested
    out = make_run(_rows(mkrow), config="prompts: [faq]\npostprocess:\n  floor: 'off'\n")
    loose = library()["faq"].model_dump(mode="json")
    loose["contract"].update(validator=None, min_length_ratio=None, max_length_ratio=None)
    pf = tmp_path / "faq-loose.yaml"
    pf.write_text(yaml.safe_dump(loose))
    res = CliRunner().invoke(app, ["clean", str(out), "--prompt-file", f"faq={pf}", "--dedup", "report"])
    assert res.exit_code == 0, res.output
    assert "rejected" in res.output and "rows in: ok 2, rejected 1, failed 1" in res.output
    assert "rows out: ok 3, rejected 0, failed 1" in res.output and "dedup: 0 exact + 0 near" in res.output
    assert (tmp_path / "run-clean" / "clean.json").exists()


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rephraser.cli", *args], capture_output=True, text=True, timeout=120)


def test_bad_inputs_are_one_line_errors(make_run, mkrow, tmp_path):
    for args, expect in [
        (("stats", str(tmp_path / "nope")), "output folder not found"),
        (("clean", str(tmp_path / "nope")), "output folder not found"),
        (("stats", str(tmp_path)), "is not a rephraser output folder"),
    ]:
        p = _cli(*args)
        assert p.returncode == 2, p.stderr
        assert p.stderr.strip().count("\n") == 0 and expect in p.stderr and "Traceback" not in p.stderr
    out = make_run(_rows(mkrow))
    p = _cli("clean", str(out), "--prompt-file", "faq")
    assert p.returncode == 2 and "NAME=PATH" in p.stderr
    p = _cli("clean", str(out), "--dedup", "maybe")
    assert p.returncode == 2 and "--dedup must be" in p.stderr


def test_clean_takes_dash_o_and_unknown_options_are_usage_errors(make_run, mkrow, tmp_path):
    out = make_run(_rows(mkrow))
    p = _cli("clean", str(out), "-o", str(tmp_path / "cleaned"))
    assert p.returncode == 0, p.stderr
    assert (tmp_path / "cleaned" / "clean.json").exists()
    p = _cli("clean", str(out), "--no-such-flag")
    assert p.returncode == 2 and "no such option --no-such-flag" in p.stderr and "internal error" not in p.stderr
