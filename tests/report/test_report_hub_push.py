"""`rephraser push`: the exact plan of a finished run (--dry-run), and the push itself against a local
stand-in for the Hub (tests/fakes/local_hub.py): committed data first, then card + config + stats."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fakes"))
from local_hub import LocalHubApi  # noqa: E402

from rephraser.report.hub_push import plan_push, push  # noqa: E402
from rephraser.run_folder import committed_files  # noqa: E402


@pytest.fixture(scope="module")
def _one_run(tmp_path_factory):
    import importlib.util

    from helpers import cli, fake_run_args, write_corpus

    spec = importlib.util.spec_from_file_location("tests_root_conftest", Path(__file__).parents[1] / "conftest.py")
    root_conftest = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(root_conftest)
    spawn_fake = root_conftest.spawn_fake

    root = tmp_path_factory.mktemp("push")
    proc, port = spawn_fake()
    try:
        out = root / "run"
        cli(*fake_run_args(f"http://127.0.0.1:{port}", write_corpus(root / "in.jsonl", 30, bad=True), out,
                           "--rows-per-part", "7"))
    finally:
        proc.kill()
        proc.wait(timeout=10)
    return out


@pytest.fixture
def finished_run(_one_run, tmp_path):
    """A copy of one finished run (tests may change their copy)."""
    return Path(shutil.copytree(_one_run, tmp_path / "run"))


def _tree(folder: Path) -> dict[str, int]:
    return {p.relative_to(folder).as_posix(): p.stat().st_mtime_ns for p in folder.rglob("*") if p.is_file()}


def test_dry_run_prints_the_exact_plan_and_sends_nothing(finished_run, monkeypatch, tmp_path):
    from helpers import cli

    monkeypatch.setenv("HF_HOME", str(tmp_path / "no-login"))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    stray = finished_run / "data" / "echo" / "s00000-of-00001-part-00099.parquet"  # a part without manifest
    stray.write_bytes(sorted((finished_run / "data" / "echo").glob("*-part-00000-*.parquet"))[0].read_bytes())
    before = _tree(finished_run)
    p = cli("push", str(finished_run), "--repo", "org/rephrased", "--dry-run")
    assert _tree(finished_run) == before  # nothing written: no card, no staging folder
    text = p.stdout
    committed = sorted(f for f in committed_files(finished_run) if f.startswith("data/"))
    assert len(committed) == 5  # 30 documents, parts of 7 rows
    for f in committed:
        line = next(line for line in text.splitlines() if line.strip().startswith(f))
        assert "config echo" in line
    assert f"step 1 — data: {len(committed)} file(s)" in text
    assert "part-00099" not in text and "uncommitted part files (no manifest) 1 file(s)" in text
    n_rejected = sum(1 for f in committed_files(finished_run) if f.startswith("rejected/"))
    assert f"rejected/ (add --include-rejected) {n_rejected} file(s)" in text  # the 3 bad input records
    for meta in ("README.md", "config.yaml", "stats.json", "sharding.json"):
        assert any(line.strip().startswith(meta) for line in text.split("step 2")[1].splitlines())
    assert "cache/" in text and "manifests/" in text
    assert "https://huggingface.co/datasets/org/rephrased" in text
    plan = plan_push(finished_run, "org/rephrased")
    assert [f.size for f in plan.data] == [(finished_run / f).stat().st_size for f in committed]
    bad = cli("push", str(finished_run), "--repo", "not a repo", "--dry-run", check=False)
    assert bad.returncode == 2 and bad.stderr.startswith("error: --repo must look like org/name")
    no_token = cli("push", str(finished_run), "--repo", "org/rephrased", check=False)
    assert no_token.returncode == 2 and "no Hugging Face token" in no_token.stderr
    assert len(no_token.stderr.strip().splitlines()) == 1


def test_push_uploads_committed_data_then_the_card_and_is_idempotent(finished_run, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_TOKEN", "hf_placeholder_for_the_stand_in")
    hub = LocalHubApi(tmp_path / "hub")
    plan = plan_push(finished_run, "org/rephrased", private=True)
    sent = push(plan, api=hub)
    assert sent["data_files"] == 5
    repo = tmp_path / "hub" / "datasets" / "org" / "rephrased"
    uploaded = sorted(p.relative_to(repo).as_posix() for p in repo.rglob("*") if p.is_file())
    data = sorted(f for f in committed_files(finished_run) if f.startswith("data/"))
    assert uploaded == sorted([*data, "README.md", "config.yaml", "stats.json", "sharding.json"])
    for f in data:
        assert (repo / f).read_bytes() == (finished_run / f).read_bytes()
    log = [json.loads(line) for line in (tmp_path / "hub" / "commits.jsonl").read_text().splitlines()]
    assert log[0] == {**log[0], "create": True, "private": True}
    assert log[1]["files"] == data and log[2]["files"][0] == "README.md"  # data first, card last
    assert (finished_run / "README.md").read_text() == (repo / "README.md").read_text()
    assert "config_name: echo" in (repo / "README.md").read_text()
    push(plan_push(finished_run, "org/rephrased"), api=hub)  # again: nothing changed, nothing committed
    assert len((tmp_path / "hub" / "commits.jsonl").read_text().splitlines()) == 3
    datasets = pytest.importorskip("datasets")
    rows = datasets.load_dataset(str(repo), "echo", split="train")
    assert sorted(rows["id"]) == [f"doc-{i:05d}" for i in range(30)]


def test_one_push_of_a_folder_at_a_time(finished_run, monkeypatch, tmp_path):
    """Two pushes would share the staging folder and the upload's state: the second is refused (exit 75)
    before touching the Hub, and an --overwrite of the run waits for the push too."""
    from rephraser.config import RunConfig
    from rephraser.lease import LeaseHeld
    from rephraser.report.hub_push import PUSH_LEASE
    from rephraser.run_identity import prepare
    from rephraser.writer_leases import sole_writer

    monkeypatch.setenv("HF_TOKEN", "hf_placeholder_for_the_stand_in")
    hub = LocalHubApi(tmp_path / "hub")
    plan = plan_push(finished_run, "org/rephrased")
    with sole_writer(finished_run, "rephraser push", name=PUSH_LEASE):
        with pytest.raises(LeaseHeld, match="held by another writer: .*rephraser push") as e:
            push(plan, api=hub)
        assert e.value.exit_code == 75 and not (tmp_path / "hub").exists()
        cfg = RunConfig.model_validate({"output": {"dir": str(finished_run)}})
        with pytest.raises(LeaseHeld, match="refusing to --overwrite .*: its push is being written"):
            prepare(cfg, {}, force=False, overwrite=True, tag="s00000-of-00001")
    assert push(plan, api=hub)["data_files"] == 5
