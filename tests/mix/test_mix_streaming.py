"""The streaming mixer: same rows as the in-memory mixer it replaced, bounded memory, byte-identical reruns.

The golden digests below were computed with the previous, in-memory implementation (commit 6cbcf55) on the
fixtures of conftest.py; they digest the rows' content and order (not Parquet bytes, which carry the pyarrow
version), so they hold across library upgrades and prove the two-pass mixer selects and orders exactly as
before.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from rephraser.mix.config import MixComponent, MixConfig
from rephraser.mix.mixer import run_mix

GOLDEN = {
    "shares": "9e27215a33c1d1a9",
    "repeats_many_parts": "b01479d2e804b5d5",
    "tokenizer_counter": "a4adfe68d9b2def3",
}
BPE = Path(__file__).parent / "fixtures" / "bpe400.json"  # a committed tokenizer: counts never drift


def _digest(out: Path, manifest: dict) -> str:
    rows = [pq.read_table(out / p).to_pylist() for p in manifest["parts"]]
    # paths differ per machine; licences were added to the manifest after the golden digests were taken
    kept = {k: v for k, v in manifest.items() if k not in ("components", "token_counter", "licenses")}
    comps = [{k: v for k, v in c.items() if k not in ("path", "licenses")} for c in manifest["components"]]
    blob = json.dumps([rows, kept, comps], sort_keys=True, ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _cases(tmp_path: Path, run_table: Path, source_jsonl: Path) -> dict[str, MixConfig]:
    both = [MixComponent(path=str(run_table), weight=0.7), MixComponent(path=str(source_jsonl), weight=0.3)]
    return {
        "shares": MixConfig(components=both, tokens=5000, seed=0, output=str(tmp_path / "shares")),
        "repeats_many_parts": MixConfig(
            components=[c.model_copy(update={"weight": 0.5}) for c in both],
            tokens=40_000, seed=3, rows_per_part=7, output=str(tmp_path / "repeats"),
        ),
        "tokenizer_counter": MixConfig(
            components=[c.model_copy(update={"weight": w}) for c, w in zip(both, (0.6, 0.4), strict=True)],
            tokens=6000, seed=5, rows_per_part=50, tokenizer=str(BPE), output=str(tmp_path / "tok"),
        ),
    }


@pytest.mark.parametrize("case", sorted(GOLDEN))
def test_same_rows_as_the_previous_in_memory_mixer(tmp_path, run_table, source_jsonl, case):
    cfg = _cases(tmp_path, run_table, source_jsonl)[case]
    manifest = run_mix(cfg)
    assert _digest(Path(cfg.output), manifest) == GOLDEN[case]


def test_spilling_to_disk_writes_the_same_bytes(tmp_path, run_table, source_jsonl):
    cfg = _cases(tmp_path, run_table, source_jsonl)["repeats_many_parts"]
    in_memory = run_mix(cfg)
    spilled_cfg = cfg.model_copy(update={"output": str(tmp_path / "spilled")})
    spilled = run_mix(spilled_cfg, memory_budget=1)  # every batch of picked rows goes to disk
    assert len(in_memory["parts"]) == 95
    for part in in_memory["parts"]:
        assert (Path(cfg.output) / part).read_bytes() == (Path(spilled_cfg.output) / part).read_bytes()
    assert not (Path(spilled_cfg.output) / ".mix-spill").exists()
    assert spilled["components"][0]["epochs"] == in_memory["components"][0]["epochs"] > 1


def test_only_committed_parts_of_a_run_folder_are_mixed(tmp_path, run_table):
    import json as _json

    tag = "s00000-of-00001"
    (run_table / "manifests" / tag).mkdir(parents=True)
    (run_table / "manifests" / tag / "part-00000.json").write_text(
        _json.dumps({"part": 0, "files": [f"data/table/{tag}-part-00000.parquet"]}))  # part 1: no manifest yet
    m = run_mix(MixConfig(components=[MixComponent(path=str(run_table), weight=1)], tokens=200_000,
                          output=str(tmp_path / "mix")))
    committed = {f"table:{r['id']}#0" for r in pq.read_table(run_table / "data" / "table" / f"{tag}-part-00000.parquet")
                 .to_pylist() if r["status"] == "ok" and r["generation"]}
    rows = [r for p in m["parts"] for r in pq.read_table(tmp_path / "mix" / p).to_pylist()]
    assert {r["origin_id"] for r in rows} == committed
    assert m["components"][0]["available_documents"] == len(committed) == 31
