"""HTML report: self-contained, right numbers, deterministic viewer sample, safe embedding, experiment plots."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rephraser.cli import app
from rephraser.errors import RephraserError
from rephraser.report.html import build_report
from rephraser.report.summary import generation_stats, opening, percentile
from rephraser.report.viewer import viewer_payload
from rephraser.run_folder import RunFolderError, open_run


def _payload(page: str) -> dict:
    m = re.search(r'<script type="application/json" id="viewer-data">(.*?)</script>', page, re.S)
    assert m, "viewer data block missing"
    return json.loads(m.group(1))


def test_report_is_self_contained(small_run: Path) -> None:
    page = build_report(small_run)
    assert page.startswith("<!DOCTYPE html>")
    # no external resources: nothing fetched from a CDN or the network
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "<link" not in page
    assert page.count("data:image/png;base64,") >= 3  # compliance, faithfulness and length-ratio plots
    for section in ('id="summary"', 'id="generation"', 'id="plots"', 'id="viewer"'):
        assert section in page
    # tok/s and wall time from stats.json, in the summary table itself
    assert "<td>output tok/s (stats.json)</td><td>71.5</td>" in page
    assert "<td>wall time s (stats.json)</td><td>12.3</td>" in page


def test_faithfulness_is_shown_beside_compliance_as_a_table_and_a_plot(small_run: Path) -> None:
    page = build_report(small_run)
    section = page[page.index('<section id="faithfulness">'):]
    section = section[:section.index("</section>")]
    for head in ("format compliance", "content floor pass", "rows with invented numbers", "rows with invented names",
                 "mean content recall"):
        assert head in section
    assert re.search(r'<figure><img alt="Compliance beside faithfulness per prompt" src="data:image/png;base64,', page)


def test_generation_stats_exact(small_run: Path) -> None:
    gen = generation_stats(open_run(small_run))
    faq = gen["faq"]
    assert (faq["ok"], faq["rejected"], faq["failed"]) == (12, 4, 1)
    assert faq["compliance"] == pytest.approx(0.75)
    # fixture: rows with i % 3 == 0 open with "Here is the", the others "Q: What is" -> 8 of 12
    assert faq["opening_collapse"] == pytest.approx(8 / 12)
    assert faq["top_openings"][0] == ("q what is", pytest.approx(8 / 12))
    assert dict(faq["rejection_reasons"]) == {"fewer than 2 question-answer pairs": 4, "timeout after 600s": 1}
    assert len(faq["length_ratios"]) == 12 and faq["length_ratio"]["p50"] == pytest.approx(
        percentile(faq["length_ratios"], 50))
    assert opening("  **Q:** What's up, doc?", 3) == "q what's up"
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == pytest.approx(2.5)


def test_viewer_embeds_everything_when_small(small_run: Path) -> None:
    payload = _payload(build_report(small_run))
    assert len(payload["rows"]) == 32 and not payload["sampled"]
    statuses = {r["status"] for r in payload["rows"]}
    assert statuses == {"ok", "rejected", "failed"}
    failed = next(r for r in payload["rows"] if r["status"] == "failed")
    assert failed["gen"] is None and failed["reason"] == "timeout after 600s"
    ok = next(r for r in payload["rows"] if r["status"] == "ok")
    assert ok["ratio"] == pytest.approx(len(ok["gen"]) / len(payload["sources"][ok["id"]]))


def test_viewer_sample_is_deterministic_capped_and_stratified(tmp_path: Path, make_run) -> None:
    run = make_run(tmp_path / "big", {"faq": {"ok": 300, "rejected": 3}, "table": {"ok": 200, "failed": 2}})
    a = viewer_payload(open_run(run), max_rows=40, seed=1)
    b = viewer_payload(open_run(run), max_rows=40, seed=1)
    c = viewer_payload(open_run(run), max_rows=40, seed=2)
    assert len(a["rows"]) == 40 and a["sampled"] and a["total_rows"] == 505
    assert [r["id"] for r in a["rows"]] == [r["id"] for r in b["rows"]]
    assert [r["id"] for r in a["rows"]] != [r["id"] for r in c["rows"]]
    # rare fates still shown: all 3 rejected and both failed rows fit in their round-robin share
    assert sum(r["status"] == "rejected" for r in a["rows"]) == 3
    assert sum(r["status"] == "failed" for r in a["rows"]) == 2
    page = build_report(run, max_rows=40, seed=1)
    assert "deterministic sample of 40 of 505 rows" in page


def test_viewer_text_cannot_break_out_of_script(tmp_path: Path, make_run) -> None:
    import pyarrow.parquet as pq

    from rephraser.records import rows_to_table, table_to_rows

    run = make_run(tmp_path / "x", {"faq": {"ok": 2}})
    f = next((run / "data" / "faq").glob("*.parquet"))
    rows = table_to_rows(pq.read_table(f))
    evil = "</script><script>window.pwned=1</script><b>bold</b>"
    rows[0].generation = evil
    pq.write_table(rows_to_table(rows), f)
    page = build_report(run)
    assert "<script>window.pwned" not in page
    assert any(r["gen"] == evil for r in _payload(page)["rows"])  # kept verbatim, only escaped


def test_long_texts_are_cut_with_a_note(tmp_path: Path, make_run) -> None:
    run = make_run(tmp_path / "x", {"faq": {"ok": 3}})
    payload = viewer_payload(open_run(run), max_chars=30)
    src = next(iter(payload["sources"].values()))
    assert "cut in the report" in src and src.startswith("Document")


def test_experiment_folder_report(tmp_path: Path) -> None:
    root = tmp_path / "exp"
    for cell, base in (("table_mix70", 0.17), ("faq_mix50", 0.14), ("dclm_only", 0.13)):
        for seed in range(3):
            d = root / cell / f"seed{seed}"
            d.mkdir(parents=True)
            macro = base + 0.001 * seed
            (d / "results.json").write_text(json.dumps({
                "config_general": {"seed": seed}, "macro": macro, "micro": macro - 0.01,
                "categories": {"GK": macro + 0.01, "RC": macro - 0.02, "MATH": {"score": macro / 2}},
                "results": {}}))
            (d / "curve.jsonl").write_text("\n".join(json.dumps(
                {"step": s, "tokens": 1000 * s, "loss": 5 - s / 10, "heldout_loss": 5.1 - s / 10, "bpb": 2 - s / 50}
            ) for s in range(1, 6)))
    from rephraser.report.experiment import load_experiment
    from rephraser.report.grid import load_grid_report

    exp = load_experiment(root)
    assert len(exp.scores) == 9 and len(exp.curves) == 9
    t = next(s for s in exp.scores if s["cell"] == "table_mix70" and s["seed"] == 2)
    assert t["ratio"] == pytest.approx(0.70) and t["series"] == "run"
    grid = load_grid_report(root)  # not a grid: discovered, no baseline, no gaps
    assert not grid.from_grid and grid.baseline is None and grid.ratios == [0.5, 0.7]
    faq = grid.cell("faq_mix50")
    assert faq.mean_std("macro")[0] == pytest.approx(0.141) and len(faq.seeds[0].curve) == 5
    page = build_report(root)  # no run outputs at the root: experiment-only report
    assert 'id="experiment"' in page and 'id="viewer"' not in page
    plots = re.findall(r'<figure class="plot" id="plot-([\w-]+)"', page)
    assert plots == ["seed-noise", "score-vs-share", "training-curves", "categories"]
    assert "0.1710 ± 0.0010" in page  # table_mix70: mean of .170/.171/.172, std .001
    assert "no baseline to compare with" in page

def test_report_cli_and_errors(small_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "r.html"
    res = CliRunner().invoke(app, ["report", str(small_run), "--output", str(out), "--max-rows", "5"])
    assert res.exit_code == 0, res.output
    assert len(_payload(out.read_text())["rows"]) == 5
    with pytest.raises(RunFolderError, match="not found"):
        build_report(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunFolderError, match="not a rephraser output folder"):
        build_report(tmp_path / "empty")
    (tmp_path / "badcfg").mkdir()
    (tmp_path / "badcfg" / "config.yaml").write_text("a: [unclosed")
    with pytest.raises(RunFolderError, match="cannot read"):
        build_report(tmp_path / "badcfg")


def test_report_output_folder_created_and_unwritable_is_one_line(small_run: Path, tmp_path: Path) -> None:
    from rephraser.report.html import write_report

    out = write_report(small_run, tmp_path / "new" / "dir" / "r.html", max_rows=3)
    assert out.exists() and not list(out.parent.glob(".r.html.*"))  # no temp left behind
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(RephraserError, match="cannot write"):
        write_report(small_run, blocker / "r.html")
