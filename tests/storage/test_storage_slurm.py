"""`rephraser slurm` with an s3:// output (moto on loopback): the scripts carry the URL as written,
--check and --resubmit-failed read the shards' state from the bucket."""

from __future__ import annotations

import sys

import yaml

from helpers import ECHO_PROMPT, write_corpus
from rephraser import storage
from rephraser.cli import main
from rephraser.config import validate
from rephraser.generate.runner import run_config
from rephraser.run_folder import shard_status


def _cli(monkeypatch, *argv: str) -> int:
    monkeypatch.setattr(sys, "argv", ["rephraser", *argv])
    try:
        main()
    except SystemExit as e:
        return int(e.code or 0)
    return 0


def test_slurm_scripts_and_check_on_an_s3_output(s3, tmp_path, fake_server, monkeypatch, capsys):
    monkeypatch.setenv("REPHRASER_LOCAL_DIR", str(tmp_path / "node-local"))
    monkeypatch.chdir(tmp_path)
    out = f"{s3}/runs/array"
    raw = {"source": {"path": str(write_corpus(tmp_path / "in.jsonl", 12))}, "prompts": [ECHO_PROMPT],
           "output": {"dir": out}, "sampling": {"max_tokens": 24},
           "engine": {"kind": "openai", "base_url": fake_server(), "model": "fake-model"}}
    cfg_file = tmp_path / "run.yaml"
    cfg_file.write_text(yaml.safe_dump(raw))

    assert [s.state for s in shard_status(out, 2)] == ["not started", "not started"]  # no folder yet
    run_config(validate({**raw, "source": {**raw["source"], "shard_index": 0, "shard_count": 2}}), progress=False)
    assert [s.state for s in shard_status(out, 2)] == ["complete", "not started"]

    assert _cli(monkeypatch, "slurm", "--config", str(cfg_file), "--array", "2", "--check") == 1
    said = capsys.readouterr().out
    assert f"1 of 2 shards of {out} are not complete: 1 (not started)" in " ".join(said.split())

    script = tmp_path / "jobs" / "job.sbatch"
    assert _cli(monkeypatch, "slurm", "--config", str(cfg_file), "--array", "2", "--resubmit-failed", "--followups",
                "--output-script", str(script)) == 0
    assert "--array=1" in script.read_text()  # only the shard the bucket lacks
    finish = script.with_name("job.finish.sbatch").read_text()
    assert f"stats {out} --json" in finish and f"card {out}" in finish  # the URL, not a mangled local path
    assert "s3:/t-" not in finish.replace("s3://", "")

    run_config(validate({**raw, "source": {**raw["source"], "shard_index": 1, "shard_count": 2}}), progress=False)
    capsys.readouterr()
    assert _cli(monkeypatch, "slurm", "--config", str(cfg_file), "--array", "2", "--check") == 0
    assert f"all 2 shards of {out} complete" in " ".join(capsys.readouterr().out.split())
    assert "stats.json" in storage.listdir(out)  # --check merged the shards' statistics in the bucket


def test_shard_status_reads_a_torn_stats_file_as_incomplete(s3):
    out = storage.as_location(f"{s3}/runs/torn")
    storage.write_text(out / "stats" / "s00000-of-00003.json", "{not json")
    storage.write_text(out / "manifests" / "s00000-of-00003" / "part-00000.json", "{}")
    storage.write_json(out / "stats" / "s00002-of-00003.json", {"complete": True, "conservation_ok": True})
    assert [s.state for s in shard_status(out, 3)] == ["incomplete", "not started", "complete"]
