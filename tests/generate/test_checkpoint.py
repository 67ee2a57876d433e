import json

import pyarrow.parquet as pq
import pytest

from rephraser.errors import ResumeError
from rephraser.generate.checkpoint import Checkpoint
from rephraser.records import Row


def one(folder):
    """The single Parquet file of a folder (names carry the writer's epoch and a random token)."""
    files = sorted(folder.glob("*.parquet"))
    assert len(files) == 1, files
    return files[0]


def rows(ids, prompt="faq", status="ok"):
    return [Row(id=i, prompt=prompt, status=status, generation=f"g-{i}", completion_tokens=3) for i in ids]


def test_commit_then_load_sees_units_and_files(tmp_path):
    ck = Checkpoint(tmp_path, "s00000-of-00001")
    ck.load()
    ck.commit(rows(["a", "b"]) + rows(["c"], status="rejected") + rows(["d"], status="failed"), {"a": "h1"})
    again = Checkpoint(tmp_path, "s00000-of-00001").load()
    assert again.units == {("a", "faq"): "o", ("b", "faq"): "o", ("c", "faq"): "r", ("d", "faq"): "f"}
    assert again.text_hashes == {"a": "h1"} and again.next_part == 1
    assert pq.read_table(one(tmp_path / "data/faq")).num_rows == 2
    assert pq.read_table(one(tmp_path / "rejected/faq")).num_rows == 1
    assert pq.read_table(one(tmp_path / "dead_letter/faq")).num_rows == 1
    assert one(tmp_path / "data/faq").name.startswith("s00000-of-00001-part-00000-e000001-")


def test_uncommitted_part_files_are_removed(tmp_path):
    ck = Checkpoint(tmp_path, "s00000-of-00001")
    ck.load()
    ck.commit(rows(["a"]), {})
    # a crash after writing part 1's parquet but before its manifest:
    orphan = tmp_path / "data/faq/s00000-of-00001-part-00001-e000001-abcdef.parquet"
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
    [mf] = (tmp_path / "manifests/t").glob("part-*.json")
    m = json.loads(mf.read_text())
    m["part"] = 1
    (tmp_path / "manifests/t/part-00001-e000001-v00.json").write_text(json.dumps(m))
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
    dead = pq.read_table(one(tmp_path / "dead_letter/faq")).column("id").to_pylist()
    ok = [pq.read_table(f).column("id").to_pylist() for f in sorted((tmp_path / "data/faq").glob("*.parquet"))]
    assert dead == ["c"] and ok == [["a"], ["b"]]
    assert sum(s["counts"].get("faq|failed", 0) for s in state.parts) == 1  # stats count each row once
    assert sum(s["counts"].get("faq|ok", 0) for s in state.parts) == 2
    ck2 = Checkpoint(tmp_path, "t")
    ck2.load()
    ck2.commit(rows(["c"]), {}, retried={("c", "faq")})  # the last dead letter: its file disappears
    assert not list((tmp_path / "dead_letter/faq").glob("*.parquet"))
    assert Checkpoint(tmp_path, "t").load().units[("c", "faq")] == "o"


def committed_ids(out):
    from rephraser.run_folder import iter_rows

    return sorted(r["id"] for _, r in iter_rows(out, ["id"]))


def test_a_writer_fenced_off_while_frozen_adds_nothing_that_readers_take(tmp_path, monkeypatch):
    from rephraser import manifests
    from rephraser.lease import LeaseLost

    a = Checkpoint(tmp_path, "t", epoch=1)
    a.load()
    a.commit(rows(["a"]), {})
    b = Checkpoint(tmp_path, "t", epoch=2)  # took over while A was frozen
    assert set(b.load().units) == {("a", "faq")}
    # A wakes up just past its checks (frozen between them and the write): its late part lands anyway
    monkeypatch.setattr(manifests, "fence_epochs", lambda names: [])
    a.commit(rows(["b", "c"]), {})
    monkeypatch.undo()
    b.commit(rows(["b"]), {})  # the same part number as A's late part: nothing is replaced
    assert committed_ids(tmp_path) == ["a", "b"]
    with pytest.raises(LeaseLost, match="newer writer"):  # awake, A's next commit stops at the epoch check
        a.commit(rows(["d"]), {})
    state = Checkpoint(tmp_path, "t", epoch=3).load()
    assert set(state.units) == {("a", "faq"), ("b", "faq")}
    assert len(list((tmp_path / "data/faq").glob("*-e000001-*"))) == 1  # A's late file was deleted
    assert committed_ids(tmp_path) == ["a", "b"]


def test_an_older_epoch_cannot_resume_a_fenced_shard(tmp_path):
    from rephraser.lease import LeaseLost

    Checkpoint(tmp_path, "t", epoch=5).load()
    with pytest.raises(LeaseLost, match="newer writer"):
        Checkpoint(tmp_path, "t", epoch=4).load()


def test_a_folder_from_before_fencing_resumes(tmp_path):
    ck = Checkpoint(tmp_path, "t", epoch=1)
    ck.load()
    ck.commit(rows(["a"]), {})
    mdir = tmp_path / "manifests/t"
    [mf] = mdir.glob("part-*.json")
    [f] = (tmp_path / "data/faq").glob("*.parquet")
    legacy = f.with_name("t-part-00000.parquet")
    f.rename(legacy)
    m = json.loads(mf.read_text())
    m["files"] = ["data/faq/t-part-00000.parquet"]
    m.pop("file_checks")
    mf.unlink()
    for fence in mdir.glob("fence-*"):
        fence.unlink()
    (mdir / "part-00000.json").write_text(json.dumps(m))
    state = Checkpoint(tmp_path, "t", epoch=1).load()
    assert set(state.units) == {("a", "faq")} and legacy.exists()
    assert committed_ids(tmp_path) == ["a"]


def test_a_missing_committed_file_stops_the_resume_or_is_repaired(tmp_path):
    from rephraser.run_folder import RunFolderError, committed_files

    ck = Checkpoint(tmp_path, "t")
    ck.load()
    ck.commit(rows(["a", "b"]) + [Row(id="b", prompt="faq", status="rejected", sample=1)], {})
    ck.commit(rows(["c"]), {})
    victim = sorted((tmp_path / "data/faq").glob("*part-00000-*"))[0]
    victim.unlink()
    with pytest.raises(ResumeError, match=f"committed file .*{victim.name} is missing.*--repair"):
        Checkpoint(tmp_path, "t").load()
    with pytest.raises(RunFolderError, match=f"{victim.name} is missing"):
        committed_files(tmp_path)
    fixer = Checkpoint(tmp_path, "t", repair=True)
    state = fixer.load()
    assert set(state.units) == {("c", "faq")}  # a and b are generated again; b's rejected row went with it
    assert fixer.repaired == {str(victim.relative_to(tmp_path)): 2}
    assert committed_ids(tmp_path) == ["c"]
    fixer.commit(rows(["a", "b"]), {})
    assert committed_ids(tmp_path) == ["a", "b", "c"]
    assert set(Checkpoint(tmp_path, "t").load().units) == {("a", "faq"), ("b", "faq"), ("c", "faq")}
