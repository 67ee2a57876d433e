"""`rephraser mix` and `tokenize` with their inputs and outputs on S3 (moto on loopback) give the same
bytes as the same work on local disk; a remote tokenize output is refused (training memory-maps it)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from rephraser import storage
from rephraser.errors import ConfigError
from rephraser.mix.config import MixConfig
from rephraser.mix.mixer import run_mix
from rephraser.mix.text_files import iter_texts
from rephraser.mix.tokenize import tokenize_texts, train_bpe
from rephraser.records import Row, rows_to_table


def _inputs(root: Path) -> None:
    rows = [Row(id=f"d{i}", prompt="faq", status="ok", generation=f"faq {i}: " + "word " * (3 + i % 17))
            for i in range(80)]
    rows.append(Row(id="bad", prompt="faq", status="rejected", generation="x", reason="too short"))
    (root / "run" / "data" / "faq").mkdir(parents=True)
    (root / "run" / "manifests").mkdir()
    pq.write_table(rows_to_table(rows[:40]), root / "run" / "data" / "faq" / "s00000-of-00001-part-00000.parquet")
    pq.write_table(rows_to_table(rows[40:]), root / "run" / "data" / "faq" / "s00000-of-00001-part-00001.parquet")
    with open(root / "web.jsonl", "w") as f:
        for i in range(60):
            f.write(json.dumps({"id": f"w{i}", "text": f"Web page {i} about rivers. " * (1 + i % 5)}) + "\n")


def _upload(local: Path, url: str) -> None:
    for f in sorted(p for p in local.rglob("*") if p.is_file()):
        storage.write_bytes(f"{url}/{f.relative_to(local).as_posix()}", f.read_bytes())


def _mix(base: str, out: str):
    cfg = MixConfig.model_validate({
        "components": [{"path": f"{base}/run", "weight": 1, "prompt": "faq"}, {"path": f"{base}/web.jsonl", "weight": 1}],
        "tokens": 600, "seed": 3, "output": out, "rows_per_part": 25})
    return run_mix(cfg)


def test_mix_and_tokenize_from_s3_match_local(s3, tmp_path, monkeypatch):
    monkeypatch.setenv("REPHRASER_LOCAL_DIR", str(tmp_path / "node-local"))
    _inputs(tmp_path / "in")
    _upload(tmp_path / "in", f"{s3}/in")
    local = _mix(str(tmp_path / "in"), str(tmp_path / "mix"))
    remote = _mix(f"{s3}/in", f"{s3}/mix")
    for m in (local, remote):
        for c in m["components"]:
            c.pop("path")
    assert remote == local and len(local["parts"]) > 1
    lease = "leases/_folder/0000000001.json"  # the mix's single-writer lease, taken by a conditional PUT
    assert storage.find(f"{s3}/mix") == sorted(["manifest.json", "mix.yaml", lease, *local["parts"]])
    assert json.loads(storage.read_bytes(f"{s3}/mix/{lease}"))["released"]
    for part in local["parts"]:
        assert storage.read_bytes(f"{s3}/mix/{part}") == (tmp_path / "mix" / part).read_bytes()

    with pytest.raises(ConfigError, match=rf"tokenize output {s3}/tokens: .*local or shared-filesystem"):
        tokenize_texts(["a"], f"{s3}/tokens", None, "x")
    texts = list(iter_texts(f"{s3}/mix"))
    assert texts == list(iter_texts(str(tmp_path / "mix"))) and len(texts) == local["documents"]
    tok = train_bpe(iter(texts), vocab_size=300)
    a = tokenize_texts(iter_texts(f"{s3}/mix"), tmp_path / "tok-remote", tok, "t", shard_tokens=500)
    b = tokenize_texts(iter_texts(str(tmp_path / "mix")), tmp_path / "tok-local", tok, "t", shard_tokens=500)
    a.pop("encode_seconds"), b.pop("encode_seconds")
    assert a == b
    for f in (tmp_path / "tok-local").iterdir():
        if f.suffix in (".bin", ".npy"):
            assert (tmp_path / "tok-remote" / f.name).read_bytes() == f.read_bytes()


def test_experiment_folder_must_be_local(repo_root):
    from rephraser.config import load_yaml
    from rephraser.experiments.config import ExperimentConfig
    from rephraser.experiments.grid import output_dir

    cfg = load_yaml(repo_root / "examples" / "mini_ablation.yaml", ExperimentConfig)
    with pytest.raises(ConfigError, match=r"experiment output s3://b/grid: .*local or shared-filesystem folder"):
        output_dir(cfg, "s3://b/grid")
    assert output_dir(cfg, "out/grid") == Path("out/grid")


@pytest.mark.parametrize("argv, url", [
    (["train", "s3://b/tokens"], "s3://b/tokens"),
    (["train", "tokens", "--output", "gs://b/train"], "gs://b/train"),
    (["evaluate", "s3://b/ckpt"], "s3://b/ckpt"),
    (["export-hf", "s3://b/ckpt", "out/hf"], "s3://b/ckpt"),
    (["export-hf", "ckpt", "s3://b/hf"], "s3://b/hf"),
    (["tokenize", "in.jsonl", "--output", "s3://b/tok"], "s3://b/tok"),
    (["experiment", "run", "grid.yaml", "--output", "s3://b/grid"], "s3://b/grid"),
])
def test_training_side_paths_are_local_with_one_line_errors(repo_root, tmp_path, monkeypatch, capsys, argv, url):
    """What memory-maps token shards or saves torch checkpoints refuses a URL by name (typer would turn
    "s3://b" into a local "s3:/b" that is then "not found")."""
    import sys

    from rephraser.cli import main

    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.jsonl").write_text('{"text": "a b c"}\n')
    (tmp_path / "grid.yaml").write_text((repo_root / "examples" / "mini_ablation.yaml").read_text())
    monkeypatch.setattr(sys, "argv", ["rephraser", *argv])
    with pytest.raises(SystemExit) as e:
        main()
    err = capsys.readouterr().err.strip()
    assert e.value.code == 2 and len(err.splitlines()) == 1, err
    assert err.startswith("error: ") and url in err and "local or shared-filesystem folder" in err
