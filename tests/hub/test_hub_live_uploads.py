"""output.hub_repo: committed parts reach the repo while the run goes on, only committed ones, exactly
their bytes, across kill -9 and restart. The Hub is a local stand-in (tests/fakes/local_hub.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

FAKES = Path(__file__).resolve().parents[1] / "fakes"
sys.path.insert(0, str(FAKES))
from local_hub import LocalHubApi  # noqa: E402

from rephraser.hub.client import HubRepo  # noqa: E402
from rephraser.hub.live import LiveUploads  # noqa: E402
from rephraser.run_folder import committed_files  # noqa: E402

REPO = "org/live"


def _config(tmp_path: Path, url: str, corpus: Path, out: Path) -> Path:
    from helpers import ECHO_PROMPT

    cfg = {"source": {"path": str(corpus)}, "prompts": [ECHO_PROMPT], "max_in_flight": 4,
           "engine": {"kind": "openai", "base_url": url, "model": "fake-model"},
           "output": {"dir": str(out), "rows_per_part": 4, "hub_repo": REPO, "hub_every_s": 0.3}}
    path = tmp_path / "run.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _run(cfg: Path, env: dict, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(FAKES / "local_hub.py"), "run", "--config", str(cfg), "--no-progress"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def _repo_files(hub: Path) -> dict[str, bytes]:
    repo = hub / "datasets" / REPO
    return {p.relative_to(repo).as_posix(): p.read_bytes() for p in repo.rglob("*") if p.is_file()} if repo.exists() else {}


def test_live_uploads_survive_kill9_and_upload_only_committed_parts(tmp_path, fake_server):
    from helpers import write_corpus

    url = fake_server("--delay-ms", "80")
    out, hub = tmp_path / "out", tmp_path / "hub"
    cfg = _config(tmp_path, url, write_corpus(tmp_path / "in.jsonl", 80), out)
    env = {**os.environ, "LOCAL_HUB_ROOT": str(hub), "HF_TOKEN": "hf_placeholder_for_the_stand_in",
           "PYTHONUNBUFFERED": "1"}
    first = _run(cfg, env)
    deadline = time.monotonic() + 120
    while len(_repo_files(hub)) < 3 and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # wait until uploads happened mid-run
    assert first.poll() is None, f"the run ended before it could be killed: {first.communicate()}"
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    mid = _repo_files(hub)
    assert mid and all(f.startswith("data/echo/") for f in mid)
    second = _run(cfg, env)
    stdout, stderr = second.communicate(timeout=300)
    assert second.returncode == 0, stderr
    assert "file(s) uploaded to org/live" in stderr
    data = sorted(f for f in committed_files(out) if f.startswith("data/"))
    final = _repo_files(hub)
    assert sorted(final) == data  # every committed data part, nothing else (no card: that is `push`)
    for f in data:
        assert final[f] == (out / f).read_bytes()  # an uncommitted file never reached the repo
    commits = [json.loads(line) for line in (hub / "commits.jsonl").read_text().splitlines()]
    uploaded = [f for c in commits for f in c.get("files", [])]
    assert len(uploaded) == len(set(uploaded))  # no file was sent twice
    assert len([c for c in commits if "files" in c]) >= 3  # uploads went on while the run did


def test_a_hub_outage_never_stops_the_run_and_pending_parts_go_next_time(tmp_path, monkeypatch):
    out = tmp_path / "out"
    (out / "data" / "faq").mkdir(parents=True)
    for k in range(3):
        (out / "data" / "faq" / f"s00000-of-00001-part-{k:05d}.parquet").write_bytes(b"part %d" % k)
    api = LocalHubApi(tmp_path / "hub", fail_commits=10)
    uploads = LiveUploads(out, HubRepo(REPO, api), "s00000-of-00001", every_s=3600, private=False)
    uploads.start(["data/faq/s00000-of-00001-part-00000.parquet", "rejected/faq/x.parquet"])
    uploads.committed(["data/faq/s00000-of-00001-part-00001.parquet"])
    summary = uploads.close(final=True)  # three tries, all refused
    assert summary == {"repo": REPO, "uploaded_files": 0, "pending_files": 2}
    api.fail_commits = 0
    again = LiveUploads(out, HubRepo(REPO, api), "s00000-of-00001", every_s=3600, private=False)
    again.start([f"data/faq/s00000-of-00001-part-{k:05d}.parquet" for k in range(3)])
    assert again.close(final=True)["uploaded_files"] == 3
    resumed = LiveUploads(out, HubRepo(REPO, api), "s00000-of-00001", every_s=3600, private=False)
    resumed.start([f"data/faq/s00000-of-00001-part-{k:05d}.parquet" for k in range(3)])
    assert resumed.pending == []  # already in the repo: nothing is sent again
    resumed.close(final=True)


def test_no_token_is_a_one_line_error_before_any_model_call(tmp_path, fake_server, monkeypatch):
    from helpers import cli, write_corpus

    monkeypatch.setenv("HF_HOME", str(tmp_path / "no-login"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    cfg = _config(tmp_path, fake_server(), write_corpus(tmp_path / "in.jsonl", 3), tmp_path / "out")
    p = cli("run", "--config", str(cfg), "--no-progress", check=False)
    assert p.returncode == 2 and p.stderr.strip() == "error: no Hugging Face token found: set HF_TOKEN or run `hf auth login`"
