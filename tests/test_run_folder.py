"""run_folder.py: the folder several shards share is prepared safely by all of them at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml

from rephraser.config import RunConfig
from rephraser.errors import ResumeError
from rephraser.run_folder import RunFolderError, open_run, read_config
from rephraser.run_identity import prepare

# Each process is one shard of a job array starting at the same moment: all write run.json and
# config.yaml into the one output folder (the race Slurm array tasks hit with fixed temp names).
SHARD = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from rephraser.config import RunConfig
    from rephraser.run_identity import prepare

    out, go, index, count = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    cfg = RunConfig.model_validate({"output": {"dir": out}, "source": {"shard_index": index, "shard_count": count}})
    while not go.exists():
        time.sleep(0.001)
    for _ in range(15):
        prepare(cfg, {"faq": "abc123"})
""")


def test_shards_preparing_one_folder_at_once_all_succeed(tmp_path: Path) -> None:
    out, go, shards = tmp_path / "out", tmp_path / "go", 4
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    procs = [subprocess.Popen([sys.executable, "-c", SHARD, str(out), str(go), str(i), str(shards)], env=env,
                              stderr=subprocess.PIPE, text=True) for i in range(shards)]
    try:
        time.sleep(0.2)
        go.touch()
        errors = [p.communicate(timeout=300)[1] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert [p.returncode for p in procs] == [0] * shards, errors
    assert sorted(f.name for f in out.iterdir()) == ["config.yaml", "run.json"]  # no temp left behind
    assert json.loads((out / "run.json").read_text())["prompt_hashes"] == {"faq": "abc123"}
    assert yaml.safe_load((out / "config.yaml").read_text())["source"]["shard_index"] == 0  # the whole run's config


def test_identity_refuses_a_changed_run_and_reading_errors_are_one_line(tmp_path: Path) -> None:
    cfg = RunConfig.model_validate({"output": {"dir": str(tmp_path / "out")}})
    out = prepare(cfg, {"faq": "abc123"})
    with pytest.raises(ResumeError, match="prompt faq edited"):
        prepare(cfg, {"faq": "def456"})
    assert read_config(out)["prompts"] == ["faq"] and open_run(out).prompts == ["faq"]
    (out / "config.yaml").write_text("a: [unclosed")
    with pytest.raises(RunFolderError, match="cannot read"):
        read_config(out)
    with pytest.raises(RunFolderError, match="not found"):
        open_run(tmp_path / "missing")
