"""`rephraser decontam` reads a dataset on S3 (moto on loopback) and writes its filtered copy and report
there, with the same findings and the same bytes as for the dataset on local disk."""

from __future__ import annotations

import json
import sys

import zstandard

from rephraser import storage
from rephraser.cli import main
from rephraser.evaluate.tasks import load_task
from rephraser.postprocess.decontam import build_index, filter_dataset, scan_dataset, words
from rephraser.records import Row, rows_to_table


def _dataset(root, planted: str) -> None:
    """A run folder's data/ (Parquet) plus a zstd JSONL file of plain records, one planted row in each."""
    rows = [Row(id=f"d{i}", prompt="faq", status="ok", generation=t, source_text="src")
            for i, t in enumerate(["an unrelated note about rivers", planted, "another short text"])]
    storage.write_table(rows_to_table(rows), storage.as_location(root) / "run" / "data" / "faq" / "s00000-of-00001-part-00000.parquet")
    lines = "".join(json.dumps({"id": f"j{i}", "generation": t}) + "\n" for i, t in enumerate([planted, "plain words"]))
    storage.write_bytes(storage.as_location(root) / "run" / "data" / "web" / "extra.jsonl.zst",
                        zstandard.ZstdCompressor().compress(lines.encode()))


def test_decontam_on_s3_matches_local(s3, tmp_path, monkeypatch):
    w = words(load_task("gsm8k", 60, seed=1234).items[5].text_for_overlap())
    planted = f"A rephrased note. {' '.join(w[2:14])} and closing words."
    local, remote = tmp_path / "local", f"{s3}/ds"
    for root in (local, remote):
        _dataset(root, planted)
    index = build_index(12, ["gsm8k"], max_items=60, seed=1234)
    rep_local, flags_local = scan_dataset(local / "run", index, "generation")
    rep_remote, flags_remote = scan_dataset(f"{remote}/run", index, "generation")
    assert rep_remote.pop("dataset") == f"{remote}/run" and rep_local.pop("dataset") == str(local / "run")
    assert rep_remote == rep_local and rep_remote["docs_contaminated"] == 2 and rep_remote["docs_scanned"] == 5
    assert filter_dataset(local / "run", flags_local, local / "clean") == {"rows_kept": 3, "rows_removed": 2, "files": 2}

    monkeypatch.setattr(sys, "argv", ["rephraser", "decontam", f"{remote}/run", "--tasks", "gsm8k", "--max-items", "60",
                                      "--filter", f"{remote}/clean", "--report", f"{remote}/report.json"])
    try:
        main()
    except SystemExit as e:
        assert e.code == 0, f"rephraser decontam exited with {e.code}"
    names = storage.find(f"{remote}/clean")
    assert names == storage.find(local / "clean") == ["data/faq/s00000-of-00001-part-00000.parquet", "data/web/extra.jsonl.zst"]
    for name in names:  # the same bytes as the local filtered copy
        assert storage.read_bytes(f"{remote}/clean/{name}") == (local / "clean" / name).read_bytes()
    report = json.loads(storage.read_text(f"{remote}/report.json"))
    assert report["docs_contaminated"] == 2 and report["filter"]["out_dir"] == f"{remote}/clean"
