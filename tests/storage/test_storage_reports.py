"""Statistics, the dataset card, the HTML report and `clean` read a run folder on S3 (moto on loopback)
and write next to it, with the same results as for the same folder on local disk."""

from __future__ import annotations

import json
import sys

import pytest

from helpers import ECHO_PROMPT, write_corpus
from rephraser import storage
from rephraser.cli import main
from rephraser.config import load_yaml, validate
from rephraser.generate.runner import run_config
from rephraser.postprocess.reapply import reapply_contracts
from rephraser.postprocess.stats import compute_stats
from rephraser.report.card import build_card, write_card
from rephraser.report.html import write_report
from rephraser.run_folder import list_parts


def test_reports_and_clean_on_an_s3_run_folder(s3, tmp_path, fake_server, monkeypatch):
    monkeypatch.setenv("REPHRASER_LOCAL_DIR", str(tmp_path / "node-local"))
    corpus = write_corpus(tmp_path / "in.jsonl", 40)  # no bad records: `clean` cannot judge rejected/_input yet
    local = tmp_path / "run"
    run_config(validate({
        "source": {"path": str(corpus)}, "prompts": [ECHO_PROMPT, "faq"], "output": {"dir": str(local), "rows_per_part": 9},
        "engine": {"kind": "openai", "base_url": fake_server(), "model": "fake-model"}, "sampling": {"max_tokens": 40},
    }), progress=False)
    committed = len(list_parts(local))
    # A part whose manifest was never written (a run killed mid-commit) is not output: reports skip it.
    first = sorted((local / "data" / "echo").glob("*.parquet"))[0]
    (first.parent / "s00000-of-00001-part-09999.parquet").write_bytes(first.read_bytes())
    remote = f"{s3}/runs/run"
    for f in sorted(p for p in local.rglob("*") if p.is_file()):
        storage.write_bytes(f"{remote}/{f.relative_to(local).as_posix()}", f.read_bytes())
    assert len(list_parts(remote)) == committed and "part-09999" not in str(list_parts(remote))

    assert load_yaml(f"{remote}/config.yaml") == load_yaml(local / "config.yaml")  # run --config OUT/config.yaml
    assert [(p.status, p.prompt, p.name) for p in list_parts(remote)] == [
        (p.status, p.prompt, p.name) for p in list_parts(local)]
    a, b = compute_stats(local), compute_stats(remote)
    assert b.pop("out_dir") == remote and a.pop("out_dir") == str(local)
    assert a == b and b["prompts"]["echo"]["rows"] > 0
    assert build_card(remote) == build_card(local)

    assert str(write_card(remote)) == f"{remote}/README.md"
    assert storage.read_text(f"{remote}/README.md") == build_card(local)
    report = write_report(remote, max_rows=50)
    assert str(report) == f"{remote}/report.html" and "rephraser report: run" in storage.read_text(report)

    clean_local = reapply_contracts(local, tmp_path / "run-clean", dedup="report")
    clean_remote = reapply_contracts(remote, f"{s3}/runs/run-clean", dedup="report")
    assert clean_remote.to_dict() == clean_local.to_dict()
    assert storage.find(f"{s3}/runs/run-clean") == storage.find(tmp_path / "run-clean")
    record = json.loads(storage.read_text(f"{s3}/runs/run-clean/clean.json"))
    assert record["source"] == remote

    # The commands take the URL as given (typer would turn a Path argument's "s3://" into "s3:/").
    for argv in (["stats", remote, "--json", "--no-quality"], ["card", remote], ["report", remote, "--max-rows", "5"]):
        monkeypatch.setattr(sys, "argv", ["rephraser", *argv])
        try:
            main()
        except SystemExit as e:
            pytest.fail(f"rephraser {argv[0]} exited with {e.code}")
    assert {"stats_quality.json", "README.md", "report.html"} <= set(storage.listdir(remote))
