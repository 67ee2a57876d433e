import json

import pyarrow.parquet as pq
import pytest

from rephraser.errors import ResumeError
from rephraser.generate.checkpoint import Checkpoint
from rephraser.records import Row


def rows(ids, prompt="faq", status="ok"):
    return [Row(id=i, prompt=prompt, status=status, generation=f"g-{i}", completion_tokens=3) for i in ids]


def test_commit_then_load_sees_units_and_files(tmp_path):
    ck = Checkpoint(tmp_path, "s00000-of-00001")
    ck.load()
    ck.commit(rows(["a", "b"]) + rows(["c"], status="rejected") + rows(["d"], status="failed"), {"a": "h1"})
    again = Checkpoint(tmp_path, "s00000-of-00001").load()
    assert again.units == {("a", "faq"): "o", ("b", "faq"): "o", ("c", "faq"): "r", ("d", "faq"): "f"}
    assert again.text_hashes == {"a": "h1"} and again.next_part == 1
    assert pq.read_table(tmp_path / "data/faq/s00000-of-00001-part-00000.parquet").num_rows == 2
    assert pq.read_table(tmp_path / "rejected/faq/s00000-of-00001-part-00000.parquet").num_rows == 1
    assert pq.read_table(tmp_path / "dead_letter/faq/s00000-of-00001-part-00000.parquet").num_rows == 1


def test_uncommitted_part_files_are_removed(tmp_path):
    ck = Checkpoint(tmp_path, "s00000-of-00001")
    ck.load()
    ck.commit(rows(["a"]), {})
    # a crash after writing part 1's parquet but before its manifest:
    orphan = tmp_path / "data/faq/s00000-of-00001-part-00001.parquet"
    orphan.write_bytes(b"partial")
    tmp = tmp_path / "data/faq/.s00000-of-00001-part-00002.parquet.tmp"
    tmp.write_bytes(b"partial")
    other_shard = tmp_path / "data/faq/s00001-of-00002-part-00000.parquet"
    other_shard.write_bytes(b"not ours")
    state = Checkpoint(tmp_path, "s00000-of-00001").load()
    assert not orphan.exists() and not tmp.exists() and other_shard.exists()
    assert state.next_part == 1 and set(state.units) == {("a", "faq")}


def test_unit_committed_twice_is_detected(tmp_path):
    ck = Checkpoint(tmp_path, "t")
    ck.load()
    ck.commit(rows(["a"]), {})
    m = json.loads((tmp_path / "manifests/t/part-00000.json").read_text())
    m["part"] = 1
    (tmp_path / "manifests/t/part-00001.json").write_text(json.dumps(m))
    with pytest.raises(ResumeError, match="committed twice"):
        Checkpoint(tmp_path, "t").load()


def test_samples_of_one_unit_share_a_fates_string(tmp_path):
    ck = Checkpoint(tmp_path, "t")
    ck.load()
    rs = [Row(id="a", prompt="faq", status="ok", sample=0), Row(id="a", prompt="faq", status="rejected", sample=1)]
    ck.commit(rs, {})
    assert Checkpoint(tmp_path, "t").load().units == {("a", "faq"): "or"}


@pytest.mark.parametrize("crash", [False, True])
def test_a_retried_unit_replaces_its_dead_letter_exactly_once(tmp_path, monkeypatch, crash):
    ck = Checkpoint(tmp_path, "t")
    ck.load()
    ck.commit(rows(["a"]) + rows(["b", "c"], status="failed"), {})
    if crash:  # killed after the new part's manifest, before the old part was rewritten
        monkeypatch.setattr(Checkpoint, "_retire", lambda self, part, units: (_ for _ in ()).throw(KeyboardInterrupt))
        with pytest.raises(KeyboardInterrupt):
            ck.commit(rows(["b"]), {}, retried={("b", "faq")})
        monkeypatch.undo()
    else:
        ck.commit(rows(["b"]), {}, retried={("b", "faq")})
    state = Checkpoint(tmp_path, "t").load()  # finishes an interrupted replacement
    assert state.units == {("a", "faq"): "o", ("b", "faq"): "o", ("c", "faq"): "f"}
    dead = pq.read_table(tmp_path / "dead_letter/faq/t-part-00000.parquet").column("id").to_pylist()
    ok = [pq.read_table(f).column("id").to_pylist() for f in sorted((tmp_path / "data/faq").glob("*.parquet"))]
    assert dead == ["c"] and ok == [["a"], ["b"]]
    assert sum(s["counts"].get("faq|failed", 0) for s in state.parts) == 1  # stats count each row once
    assert sum(s["counts"].get("faq|ok", 0) for s in state.parts) == 2
    ck2 = Checkpoint(tmp_path, "t")
    ck2.load()
    ck2.commit(rows(["c"]), {}, retried={("c", "faq")})  # the last dead letter: its file disappears
    assert not (tmp_path / "dead_letter/faq/t-part-00000.parquet").exists()
    assert Checkpoint(tmp_path, "t").load().units[("c", "faq")] == "o"
