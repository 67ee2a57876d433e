"""reapply_contracts (`rephraser clean`): rows move between data/ and rejected/, counts are conserved,
the input folder is never modified. Rows are real SmolLM2-135M outputs from helper A's fixture."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from rephraser.config import PostprocessConfig
from rephraser.errors import ConfigError
from rephraser.postprocess.contract import apply_contract
from rephraser.postprocess.floor import floor_for
from rephraser.postprocess.reapply import reapply_contracts
from rephraser.prompts.registry import library
from rephraser.prompts.spec import load_prompt_file
from rephraser.run_folder import RunFolderError, iter_rows

FIXTURE = Path(__file__).parent / "fixtures" / "smollm2_outputs.json"


def real_rows(mkrow):
    """The fixture's raw outputs judged by the library contracts and the default content floor, as the runner
    would store them."""
    recs = json.loads(FIXTURE.read_text(encoding="utf-8"))["records"]
    rows = []
    for i, r in enumerate(recs):
        spec = library()[r["prompt"]]
        v = apply_contract(spec, r["raw"], source_text=r["source_text"], finish_reason=r["finish_reason"],
                           floor=floor_for(r["prompt"], PostprocessConfig()))
        rows.append(
            mkrow(
                f"{r['title']}-{i}", prompt=r["prompt"], status="ok" if v.ok else "rejected", gen=v.text,
                raw_generation=r["raw"], reason=v.reason, source_text=r["source_text"],
                finish_reason=r["finish_reason"], completion_tokens=r["completion_tokens"], prompt_hash=spec.hash,
            )
        )
    return rows


def _spec_file(tmp_path: Path, name: str, **contract) -> Path:
    data = library()[name].model_dump(mode="json")
    data["contract"].update(contract)
    p = tmp_path / f"{name}-{hashlib.sha1(str(contract).encode()).hexdigest()[:8]}.yaml"
    p.write_text(yaml.safe_dump(data), encoding="utf-8")
    return p


def _digest(folder: Path) -> dict[str, str]:
    return {str(f.relative_to(folder)): hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(folder.rglob("*")) if f.is_file()}


def _by_status(folder: Path) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {"ok": [], "rejected": [], "failed": []}
    for part, row in iter_rows(folder, ("id", "prompt", "status", "reason", "generation")):
        assert row["status"] == part.status  # the folder and the column agree
        out[part.status].append(row)
    return out


def test_same_contracts_change_nothing(make_run, mkrow, tmp_path):
    src = make_run(real_rows(mkrow))
    s = reapply_contracts(src, tmp_path / "new")
    assert s.transitions == {} and s.text_changed == 0
    # the fixture's 12 real outputs: 1 meets its contract and the default content floor
    assert dict(s.rows_in) == dict(s.rows_out) == {"ok": 1, "rejected": 11}
    for sub in ("data", "rejected"):
        for f in (src / sub).rglob("*.parquet"):
            assert pq.read_table(tmp_path / "new" / f.relative_to(src)).equals(pq.read_table(f))


def test_looser_contract_moves_rejected_rows_to_data(make_run, mkrow, tmp_path):
    src = make_run(real_rows(mkrow))
    before = _digest(src)
    loose = load_prompt_file(_spec_file(tmp_path, "faq", validator=None, min_length_ratio=None, max_length_ratio=None))
    s = reapply_contracts(src, tmp_path / "new", overrides={"faq": loose})
    assert dict(s.transitions) == {("rejected", "ok", "ok"): 2}
    assert sum(s.rows_in.values()) == sum(s.rows_out.values()) == 12
    new = _by_status(tmp_path / "new")
    faq_ok = [r for r in new["ok"] if r["prompt"] == "faq"]
    assert len(faq_ok) == 2 and all(r["reason"] is None for r in faq_ok)
    assert not (tmp_path / "new" / "rejected" / "faq").exists()
    assert _digest(src) == before  # the input folder is only read
    assert (tmp_path / "new" / "config.yaml").read_bytes() == (src / "config.yaml").read_bytes()
    record = json.loads((tmp_path / "new" / "clean.json").read_text())
    assert record["prompts"]["faq"]["hash"] == loose.hash and record["transitions"][0]["rows"] == 2
    assert not [f for f in (tmp_path / "new").rglob(".*")]  # no temp files left behind


def test_stricter_contract_rejects_with_rule_and_reason(make_run, mkrow, tmp_path):
    src = make_run(real_rows(mkrow))
    strict = load_prompt_file(_spec_file(tmp_path, "diverse_qa_pairs", min_length_ratio=None, max_length_ratio=0.01))
    s = reapply_contracts(src, tmp_path / "new", overrides={"diverse_qa_pairs": strict})
    assert dict(s.transitions) == {("ok", "rejected", "length_window"): 1}
    new = _by_status(tmp_path / "new")
    assert new["ok"] == [] and len(new["rejected"]) == 12
    moved = [r for r in new["rejected"] if r["prompt"] == "diverse_qa_pairs" and r["reason"].startswith("length ratio")]
    assert len(moved) == 1 and moved[0]["reason"].endswith("> max 0.01")


def test_input_rejections_and_failed_rows_are_carried_over(make_run, mkrow, tmp_path):
    rows = real_rows(mkrow)[:2] + [
        mkrow("x", prompt="faq", status="rejected", gen=None, raw_generation=None, reason="empty text"),
        mkrow("y", prompt="faq", status="failed", gen=None, raw_generation=None, reason="timeout after 4 attempts"),
    ]
    src = make_run(rows)
    s = reapply_contracts(src, tmp_path / "new")
    assert s.rows_out["failed"] == 1 and s.transitions == {}
    failed = next((src / "dead_letter" / "faq").glob("*.parquet"))
    assert (tmp_path / "new" / failed.relative_to(src)).read_bytes() == failed.read_bytes()
    rejected = {r["id"]: r["reason"] for r in _by_status(tmp_path / "new")["rejected"]}
    assert rejected["x"] == "empty text"


def test_dedup_drop_moves_duplicates_to_rejected(make_run, mkrow, tmp_path):
    text = "Q: What is the Nile?\nA: A long river in Africa.\nQ: Where does it end?\nA: In the Mediterranean Sea."
    rows = [mkrow("d1", gen=text), mkrow("d2", gen=text.upper()), mkrow("d3", gen=text.replace("Nile", "Congo") + " Extra.")]
    rows += [mkrow("d4", gen="Q: Who? A: Me.\nQ: Why? A: Because.")]
    # the library faq contract, without the content floor (these rows have no real source: dedup is tested)
    src = make_run(rows, config="prompts: [faq]\npostprocess:\n  floor: 'off'\n")
    loose = load_prompt_file(_spec_file(tmp_path, "faq", min_length_ratio=None, max_length_ratio=None))
    rep = reapply_contracts(src, tmp_path / "report", overrides={"faq": loose}, dedup="report")
    assert rep.dedup is not None and rep.dedup.exact_dupes == 1 and rep.transitions == {}
    s = reapply_contracts(src, tmp_path / "drop", overrides={"faq": loose}, dedup="drop")
    assert dict(s.transitions) == {("ok", "rejected", "dedup:exact"): 1}
    new = _by_status(tmp_path / "drop")
    assert sorted(r["id"] for r in new["ok"]) == ["d1", "d3", "d4"]
    assert new["rejected"][0]["reason"] == "duplicate (exact) of faq/d1#0@smollm2-135m"


def test_errors_are_one_line(make_run, mkrow, tmp_path):
    src = make_run(real_rows(mkrow)[:1])
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    with pytest.raises(RunFolderError, match="not empty"):
        reapply_contracts(src, tmp_path / "busy")
    with pytest.raises(RunFolderError, match="new folder outside"):
        reapply_contracts(src, src / "sub")
    with pytest.raises(ConfigError, match="not in this run: table"):
        reapply_contracts(src, tmp_path / "n1", overrides={"table": library()["table"]})
    odd = make_run([mkrow("a", prompt="my-own-prompt", gen="x")], name="odd", config=None)
    with pytest.raises(ConfigError, match="--prompt-file my-own-prompt=PATH"):
        reapply_contracts(odd, tmp_path / "n2")
    with pytest.raises(RunFolderError, match="not found"):
        reapply_contracts(tmp_path / "missing", tmp_path / "n3")


def test_length_cut_rows_follow_the_run_config(make_run, mkrow, tmp_path):
    qa = "Q: What is the Nile?\nA: A long river in Africa.\nQ: Where does it end?\nA: In the Mediterranean Sea."
    rows = [mkrow("cut", gen=qa, finish_reason="length", source_text="s" * 90)]
    allowed = make_run(rows, name="allowed",  # floor off: the source is "s" * 90, only the length rule is tested
                       config="prompts: [faq]\npostprocess:\n  allow_length_finish: true\n  floor: 'off'\n")
    assert reapply_contracts(allowed, tmp_path / "a").transitions == {}
    default = make_run(rows, name="default")
    assert dict(reapply_contracts(default, tmp_path / "b").transitions) == {("ok", "rejected", "finish_reason"): 1}
    # an explicit choice wins over the run config
    s = reapply_contracts(allowed, tmp_path / "c", allow_length_finish=False)
    assert dict(s.transitions) == {("ok", "rejected", "finish_reason"): 1}


def test_multi_chunk_rows_are_carried_over(make_run, mkrow, tmp_path):
    rows = [mkrow("long", gen="part one\n\npart two", rollout="chunked", calls=2)]  # would fail qa_pairs
    s = reapply_contracts(make_run(rows), tmp_path / "new")
    assert s.transitions == {} and s.not_rejudged == 1 and s.rows_out["ok"] == 1
