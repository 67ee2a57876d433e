"""The CLI chain on tiny inputs: mix (rephrased run + embedded wiki) -> tokenize -> train."""

from __future__ import annotations

import json
import subprocess
import sys

import pyarrow.parquet as pq
from typer.testing import CliRunner

from rephraser.cli import app
from rephraser.records import Row, rows_to_table


def _run_folder(root):
    rows = [Row(id=f"d{i}", prompt="faq", status="ok", generation=f"Q: what is item {i}?\nA: item {i} is a thing. " * 3)
            for i in range(50)]
    (root / "data" / "faq").mkdir(parents=True)
    pq.write_table(rows_to_table(rows), root / "data" / "faq" / "s00000-of-00001-part-00000.parquet")
    return root


def test_mix_tokenize_train_chain(tmp_path):
    runner = CliRunner()
    run = _run_folder(tmp_path / "run_faq")
    mix = tmp_path / "mix"
    r = runner.invoke(app, ["mix", "-c", f"{run}:0.7", "-c", "wiki:0.3", "--tokens", "40000", "--seed", "3", "-o", str(mix)])
    assert r.exit_code == 0, r.output
    manifest = json.loads((mix / "manifest.json").read_text())
    assert manifest["achieved_tokens"] == 40000 and manifest["max_share_error"] < 0.01
    faq, wiki = manifest["components"]
    assert faq["epochs"] > 1 and wiki["epochs"] == 1 and wiki["kind"] == "source"

    tok = tmp_path / "tok"
    r = runner.invoke(app, ["tokenize", str(mix), "-o", str(tok), "--vocab-size", "600", "--heldout", "0.05"])
    assert r.exit_code == 0, r.output
    meta = json.loads((tok / "meta.json").read_text())
    assert meta["splits"]["train"]["documents"] + meta["splits"]["heldout"]["documents"] == manifest["documents"]

    out = tmp_path / "train"
    model = tmp_path / "model.yaml"
    arch = "{hidden_size: 64, n_layers: 1, n_heads: 4, n_kv_heads: 4, intermediate_size: 128}"
    model.write_text(f"data: {tok}\nmodel: {arch}\n")
    r = runner.invoke(app, ["train", "--config", str(model), "-o", str(out), "--steps", "6", "--seq-len", "32",
                            "--batch-size", "4", "--eval-every", "3", "--threads", "1"])
    assert r.exit_code == 0, r.output
    assert "step 6/6" in r.output and (out / "final" / "model.pt").is_file()
    assert json.loads((out / "summary.json").read_text())["final_bpb"] > 0


def test_cli_errors_are_one_line(tmp_path):
    cmd = [sys.executable, "-m", "rephraser.cli", "mix", "-c", "nothing", "--tokens", "5", "-o", str(tmp_path / "m")]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and p.stderr.strip().count("\n") == 0 and "PATH:WEIGHT" in p.stderr
    cmd = [sys.executable, "-m", "rephraser.cli", "train", str(tmp_path / "none"), "-o", str(tmp_path / "t")]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "rephraser tokenize" in p.stderr and "Traceback" not in p.stderr
