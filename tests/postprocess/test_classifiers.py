"""Quality-classifier scores: a tiny random-init BERT classifier and a tiny fastText model, both built
here; per-prompt distributions from `rephraser stats --classifier`; Spearman against grid macro scores."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from helpers.classifiers import bert_classifier
from rephraser.errors import RephraserError
from rephraser.postprocess.classifiers import FastTextClassifier, load_classifier, score_folder, summarize

TEXTS = ["Photosynthesis turns light into chemical energy in plants.", "buy now!!! cheap pills click here",
         "The Rhine begins in the Swiss canton of Graubünden.", "win win win free money"]


def _bert_folder(root: Path, num_labels: int) -> Path:
    return bert_classifier(root, num_labels, TEXTS)


@pytest.fixture(scope="module")
def regression_dir(tmp_path_factory):
    pytest.importorskip("transformers")
    return _bert_folder(tmp_path_factory.mktemp("clf"), 1)


def test_transformers_regression_head_scores_as_the_model_computes(regression_dir):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    clf = load_classifier(f"edu={regression_dir}")
    got = clf.score(TEXTS)
    model = AutoModelForSequenceClassification.from_pretrained(regression_dir).eval()
    tok = AutoTokenizer.from_pretrained(regression_dir)
    with torch.no_grad():  # one text at a time: no padding, so batching must not change a score
        want = [model(**tok(t, return_tensors="pt")).logits[0, 0].item() for t in TEXTS]
    assert got == pytest.approx(want, abs=1e-5)


def test_transformers_two_label_head_gives_a_probability(tmp_path):
    pytest.importorskip("transformers")
    folder = _bert_folder(tmp_path, 2)
    hq, cc = load_classifier(f"q={folder}#hq").score(TEXTS), load_classifier(f"q={folder}#cc").score(TEXTS)
    assert all(0 < a < 1 for a in hq) and [a + b for a, b in zip(hq, cc, strict=True)] == pytest.approx([1.0] * 4)
    with pytest.raises(RephraserError, match="no label 'nope'"):
        load_classifier(f"q={folder}#nope")


def test_fasttext_model_file(tmp_path):
    fasttext = pytest.importorskip("fasttext")
    train = tmp_path / "train.txt"
    lines = [f"__label__hq {TEXTS[0]}", f"__label__cc {TEXTS[1]}", f"__label__hq {TEXTS[2]}", f"__label__cc {TEXTS[3]}"]
    train.write_text("\n".join(lines * 20) + "\n")
    model = fasttext.train_supervised(str(train), epoch=20, dim=8, minCount=1, thread=1, seed=0, verbose=0)
    model.save_model(str(tmp_path / "dclm.bin"))
    clf = load_classifier(f"dclm={tmp_path / 'dclm.bin'}")
    assert isinstance(clf, FastTextClassifier)
    s = clf.score([TEXTS[0], "cheap pills\nclick here"])
    assert 0 <= s[1] < 0.5 < s[0] <= 1  # a newline does not break fastText's one-line input
    with pytest.raises(RephraserError, match="no label"):
        load_classifier(f"dclm={tmp_path / 'dclm.bin'}#__label__x")


def test_bad_specs_are_one_line_errors(tmp_path):
    with pytest.raises(RephraserError, match="NAME=PATH"):
        load_classifier("just-a-path")
    with pytest.raises(RephraserError, match="neither"):
        load_classifier(f"x={tmp_path / 'absent'}")


def test_stats_reports_per_prompt_distributions(regression_dir, make_run, mkrow, tmp_path):
    from typer.testing import CliRunner

    from rephraser.cli import app

    rows = [mkrow(f"d{i}", gen=TEXTS[i % 4]) for i in range(6)]
    rows += [mkrow(f"t{i}", prompt="table", gen=TEXTS[i], model=m) for i, m in ((0, "a"), (1, "b"), (2, "b"))]
    rows.append(mkrow("r0", status="rejected", gen="ignored", reason="empty output"))
    run = make_run(rows)
    direct = score_folder(run, [load_classifier(f"edu={regression_dir}")])
    assert direct["prompts"]["faq"]["edu"]["n"] == 6 and direct["prompts"]["table"]["edu"]["n"] == 3
    assert set(direct["by_model"]["table"]) == {"a", "b"}
    r = CliRunner().invoke(app, ["stats", str(run), "--no-quality", "--classifier", f"edu={regression_dir}"])
    assert r.exit_code == 0, r.output
    written = json.loads((run / "stats_quality.json").read_text())
    assert written["classifier_scores"]["prompts"] == direct["prompts"]
    assert "quality-classifier scores" in r.output


def test_summarize_and_spearman_against_macro(tmp_path):
    from rephraser.experiments.classifier_correlation import classifier_correlation

    assert summarize([]) == {"n": 0, "mean": None, "std": None, "p5": None, "p25": None, "p50": None,
                             "p75": None, "p95": None}
    assert summarize([1.0, 2.0, 3.0])["p50"] == 2.0
    cells, summary = [], []
    for i, (score, macro) in enumerate([(1.0, 0.10), (2.0, 0.12), (3.0, 0.11), (4.0, 0.15)]):
        stage = tmp_path / f"gen{i}"
        stage.mkdir()
        (stage / "stats_quality.json").write_text(json.dumps({"classifier_scores": {"prompts": {
            "faq": {"edu": {"n": 2, "mean": score}}}}}))
        cells.append(SimpleNamespace(name=f"c{i}", generate=SimpleNamespace(dir=lambda out, s=stage: s)))
        summary.append({"cell": f"c{i}", "macro_mean": macro})
    cells.append(SimpleNamespace(name="baseline", generate=None))
    corr = classifier_correlation(cells, summary + [{"cell": "baseline", "macro_mean": 0.2}], tmp_path)
    edu = corr["classifiers"]["edu"]
    assert edu["cells"] == 4 and edu["spearman"] == pytest.approx(0.8)  # ranks 1,2,3,4 vs 1,3,2,4
    assert corr["study_best_spearman"] == 0.61
    few = classifier_correlation(cells[:2], summary[:2], tmp_path)["classifiers"]["edu"]
    assert few["spearman"] is None and "at least 3" in few["reason"]
    assert classifier_correlation([cells[-1]], summary, tmp_path) is None
