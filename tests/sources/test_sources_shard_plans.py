"""Shards that read only their part: files or Parquet row groups assigned before any data is read.

The proof that a shard never opens data it does not own is black-box: after planning, every file (or
row group) a shard does not own is overwritten with garbage of the same size. The shard still reads
its own part completely, while reading the whole input now fails.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rephraser.config import SourceConfig
from rephraser.errors import SourceError
from rephraser.sources import iter_source
from rephraser.sources.sharding import PLAN_FILE, plan_shards, record_plan, run_plan


def _docs(start: int, n: int, words: int = 6) -> list[dict]:
    return [{"id": f"d{i:06d}", "text": f"document {i} " + "word " * words} for i in range(start, start + n)]


def _files_corpus(root: Path, n_files: int = 12) -> Path:
    """Files of varied size: Parquet and JSONL."""
    root.mkdir(parents=True)
    start = 0
    for k in range(n_files):
        n = 20 + 7 * (k % 4)
        docs = _docs(start, n)
        if k % 3 == 0:
            (root / f"f{k:02d}.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
        else:
            pq.write_table(pa.Table.from_pylist(docs), root / f"f{k:02d}.parquet")
        start += n
    return root


def _big_parquet(path: Path, rows: int = 4000, group: int = 100) -> Path:
    pq.write_table(pa.Table.from_pylist(_docs(0, rows)), path, row_group_size=group)
    return path


def _ids(cfg: SourceConfig, plan=None) -> list[str]:
    return [x.id for x in iter_source(cfg, plan=plan)]


def _garble(path: Path, start: int, length: int) -> None:
    raw = bytearray(path.read_bytes())
    raw[start : start + length] = b"\xee" * length
    path.write_bytes(bytes(raw))


def test_files_mode_shards_are_disjoint_complete_and_open_only_their_files(tmp_path):
    root = _files_corpus(tmp_path / "in")
    whole = _ids(SourceConfig(path=str(root)))
    n = 4
    cfgs = [SourceConfig(path=str(root), shard_index=k, shard_count=n, sharding="files") for k in range(n)]
    plans = [plan_shards(c) for c in cfgs]
    assert all(p.mode == "files" and p.units == plans[0].units for p in plans)
    shards = [_ids(c, p) for c, p in zip(cfgs, plans, strict=True)]
    assert sorted(sum(shards, [])) == sorted(whole) and len(sum(shards, [])) == len(whole)  # disjoint, complete
    assert [sum(shards, [])] == [whole]  # contiguous runs of files: shard order is input order
    loads = [sum(u.bytes for u in plans[0].units_of(k)) for k in range(n)]
    assert max(loads) <= 1.25 * sum(loads) / n
    files = plans[0].files
    for k, cfg in enumerate(cfgs):
        owned = {files[u.file].name for u in plans[0].units_of(k)}
        copy = tmp_path / f"copy{k}"
        copy.mkdir()
        for f in files:
            data = Path(f.path).read_bytes()
            (copy / f.name).write_bytes(data if f.name in owned else b"\x00" * len(data))
        plan = plan_shards(cfg.model_copy(update={"path": str(copy)}))
        assert _ids(cfg.model_copy(update={"path": str(copy)}), plan) == shards[k]
        if len(owned) < len(files):
            with pytest.raises(SourceError):
                _ids(SourceConfig(path=str(copy), sharding="hash"))


def test_row_groups_mode_reads_only_owned_row_groups(tmp_path):
    path = _big_parquet(tmp_path / "big.parquet")
    whole = list(iter_source(SourceConfig(path=str(path))))
    for n in (4, 16):
        cfgs = [SourceConfig(path=str(path), shard_index=k, shard_count=n) for k in range(n)]
        plan = plan_shards(cfgs[0])
        assert plan.mode == "row_groups"  # auto: one file cannot be split by files
        parts = [list(iter_source(c, plan=plan)) for c in cfgs]
        assert [x for p in parts for x in p] == whole  # disjoint, complete, same origins (file#row)
        assert all(parts)
    # garble every row group shard 2 of 4 does not own; it still reads all of its own
    cfg = SourceConfig(path=str(path), shard_index=2, shard_count=4)
    plan = plan_shards(cfg)
    mine = [range(*u.row_groups) for u in plan.units_of(2)]
    expected = _ids(cfg, plan)
    meta = pq.ParquetFile(path).metadata
    for g in range(meta.num_row_groups):
        if any(g in r for r in mine):
            continue
        for c in range(meta.num_columns):
            col = meta.row_group(g).column(c)
            start = min(o for o in (col.dictionary_page_offset, col.data_page_offset) if o is not None)
            _garble(path, start, 64)
    assert _ids(cfg, plan) == expected and len(expected) == 1000
    with pytest.raises(SourceError, match="cannot read"):
        _ids(SourceConfig(path=str(path), sharding="hash"))


def test_auto_picks_the_cheapest_mode_that_balances(tmp_path):
    root = _files_corpus(tmp_path / "in")
    assert plan_shards(SourceConfig(path=str(root), shard_count=4)).mode == "files"
    assert plan_shards(SourceConfig(path=str(root), shard_count=1)).mode == "files"
    one_jsonl = tmp_path / "one.jsonl"
    one_jsonl.write_text("".join(json.dumps(d) + "\n" for d in _docs(0, 50)))
    assert plan_shards(SourceConfig(path=str(one_jsonl), shard_count=3)).mode == "hash"
    few_groups = _big_parquet(tmp_path / "few.parquet", rows=300, group=100)
    assert plan_shards(SourceConfig(path=str(few_groups), shard_count=16)).mode == "hash"  # 3 groups, 16 shards
    assert plan_shards(SourceConfig(shard_count=4)).mode == "hash"  # the embedded wiki extracts
    with pytest.raises(SourceError, match="wiki"):
        plan_shards(SourceConfig(shard_count=4, sharding="files"))


def test_the_plan_is_recorded_before_reading_and_pinned_on_resume(tmp_path):
    root = _files_corpus(tmp_path / "in")
    out = tmp_path / "out"
    out.mkdir()
    cfg = SourceConfig(path=str(root), shard_index=1, shard_count=3)
    plan = run_plan(cfg, out)
    assert not plan.recorded
    record_plan(out, plan)
    saved = json.loads((out / PLAN_FILE).read_text())
    assert saved["mode"] == "files" and saved["shard_count"] == 3 and len(saved["shards"]) == 3
    assert [f["name"] for f in saved["files"]] == sorted(p.name for p in root.iterdir())
    again = run_plan(cfg, out)
    assert again.recorded and again.units == plan.units
    # growing a file is fine (appended records are new work); a new file is not
    with (root / "f00.jsonl").open("a") as fh:
        fh.write(json.dumps({"id": "late", "text": "appended later"}) + "\n")
    assert "late" in _ids(cfg.model_copy(update={"shard_index": 0}), run_plan(cfg, out))
    (root / "f99.jsonl").write_text(json.dumps({"id": "x", "text": "new file"}) + "\n")
    with pytest.raises(SourceError, match="added: f99.jsonl"):
        run_plan(cfg, out)
    with pytest.raises(SourceError, match="splits this run by files"):
        run_plan(cfg.model_copy(update={"sharding": "hash"}), out)
    assert run_plan(cfg, out, fresh=True).units  # --overwrite plans anew


def test_row_group_plans_refuse_a_rewritten_file(tmp_path):
    path = _big_parquet(tmp_path / "big.parquet")
    out = tmp_path / "out"
    out.mkdir()
    cfg = SourceConfig(path=str(path), shard_count=4, sharding="row_groups")
    record_plan(out, run_plan(cfg, out))
    _big_parquet(path, rows=4100)
    with pytest.raises(SourceError, match="changed since"):
        run_plan(cfg, out)


def test_outputs_from_before_plans_keep_hash_sharding(tmp_path):
    root = _files_corpus(tmp_path / "in")
    out = tmp_path / "out"
    (out / "manifests").mkdir(parents=True)
    cfg = SourceConfig(path=str(root), shard_count=3)
    assert run_plan(cfg, out).mode == "hash"
    with pytest.raises(SourceError, match="sharded by id hash"):
        run_plan(cfg.model_copy(update={"sharding": "files"}), out)


def test_a_sharded_run_reads_only_each_shards_files(tmp_path, fake_server):
    from helpers import cli, fake_run_args, read_rows, write_corpus

    url = fake_server()
    root = tmp_path / "in"
    root.mkdir()
    for k in range(6):
        write_corpus(root / f"part-{k}.jsonl", 8, start=8 * k)
    out = tmp_path / "out"
    for i in range(3):
        cli(*fake_run_args(url, root, out, "--shard", f"{i}/3"))
    plan = json.loads((out / PLAN_FILE).read_text())
    assert plan["mode"] == "files"
    owned = {f"s{k:05d}-of-00003": {plan["files"][u["file"]]["name"] for u in s["units"]}
             for k, s in enumerate(plan["shards"])}
    rows = read_rows(out)
    assert sorted(r["id"] for r in rows) == [f"doc-{i:05d}" for i in range(48)]
    for f in sorted((out / "data").glob("*/*.parquet")):
        tag = f.name.split("-part-")[0]
        origins = {Path(o.rsplit(":", 1)[0]).name for o in pq.read_table(f, columns=["source_origin"]).column(0).to_pylist()}
        assert origins <= owned[tag] and len(owned[tag]) == 2
    assert json.loads((out / "stats.json").read_text())["conservation_ok"]
