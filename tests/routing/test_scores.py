"""Classifier scores for routing: computed once per document (a tiny local BERT regression head, the
FineWeb-Edu shape), cached in the run folder, read back without loading the model, summarised per route
for `stats`; the Nemotron-CC-style example policy runs end to end with tiny local classifiers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from helpers import wiki_texts
from helpers.classifiers import bert_classifier
from rephraser.config import RunConfig
from rephraser.generate.runner import run_config
from rephraser.postprocess.classifiers import load_classifier
from rephraser.records import Document
from rephraser.route_config import RoutingConfig
from rephraser.routing import prepare_router
from rephraser.routing import scores as scores_mod

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture(scope="module")
def edu(tmp_path_factory) -> Path:
    pytest.importorskip("transformers")
    return bert_classifier(tmp_path_factory.mktemp("edu"), 1, wiki_texts(20))


def _docs(n: int) -> list[Document]:
    return [Document(id=f"w{i}", text=t) for i, t in enumerate(wiki_texts(n))]


def _routing(edu: Path, threshold: float) -> RoutingConfig:
    return RoutingConfig.model_validate({
        "classifiers": {"edu": {"path": str(edu)}},
        "routes": [{"name": "hq", "when": {"score": {"edu": {"min": threshold}}}, "prompts": ["distill"]}],
        "default": {"prompts": ["faq"]}})


def test_scores_are_computed_once_cached_and_reused(edu, tmp_path, monkeypatch):
    docs = _docs(12)
    want = load_classifier(f"edu={edu}").score([d.text for d in docs])
    routing = _routing(edu, sorted(want)[6])  # the top half goes to `hq`
    router = prepare_router(routing, lambda: docs, out=tmp_path, tag="s00000-of-00002")
    assert [router.scores[d.text_hash]["edu"] for d in docs] == pytest.approx(want, abs=1e-5)
    routes = [router.decide(d).route for d in docs]
    assert routes.count("hq") == 6
    parts = list((tmp_path / "scores").glob("edu-*/*.parquet"))
    assert len(parts) == 1 and parts[0].name.startswith("s00000-of-00002-")

    def no_model(*a, **k):
        raise AssertionError("the model was loaded again")

    monkeypatch.setattr(scores_mod, "load_classifier", no_model)
    again = prepare_router(routing, lambda: docs, out=tmp_path)
    assert [again.decide(d).route for d in docs] == routes  # all from the cache
    assert scores_mod.cached_scores(tmp_path, routing) == {h: dict(v) for h, v in router.scores.items()}
    # a new document is scored (the model loads), the known ones are not: one more part with only it
    monkeypatch.undo()
    prepare_router(routing, lambda: _docs(13), out=tmp_path)
    new_parts = set((tmp_path / "scores").glob("edu-*/*.parquet")) - set(parts)
    assert len(new_parts) == 1
    import pyarrow.parquet as pq

    assert pq.read_table(next(iter(new_parts))).num_rows == 1
    # dry runs read the cache but never write
    prepare_router(routing, lambda: _docs(14), out=tmp_path, write=False)
    assert len(list((tmp_path / "scores").glob("edu-*/*.parquet"))) == 2


def test_quality_example_runs_with_local_classifiers(edu, tmp_path, fake_server):
    routes = yaml.safe_load((EXAMPLES / "routes_quality.yaml").read_text())
    RoutingConfig.model_validate(routes)  # the example as shipped is valid
    two_label = bert_classifier(tmp_path, 2, wiki_texts(20))
    routes["classifiers"] = {"edu": {"path": str(edu)}, "dclm": {"path": str(two_label), "label": "hq"}}
    routes["routes"][0]["when"]["any"][0]["score"]["edu"]["min"] = -1e9  # the random head decides nothing: all hq
    routes_file = tmp_path / "routes.yaml"
    routes_file.write_text(yaml.safe_dump(routes))
    corpus = tmp_path / "in.jsonl"
    corpus.write_text("".join(json.dumps({"id": f"w{i}", "text": t}) + "\n" for i, t in enumerate(wiki_texts(6))))
    out = tmp_path / "out"
    # the scoring pass alone (what a Slurm array runs before generation), then the run reuses it
    summary = json.loads(_cli("route", "--routes", str(routes_file), "--source", str(corpus), "-o", str(out), "--json"))
    assert summary["routes"]["high_quality"]["documents"] == 6 and summary["documents"] is None
    assert sum(summary["prompt_units"].values()) == 12  # pick 2 of the four knowledge prompts
    assert len(list((out / "scores").glob("*/*.parquet"))) == 2  # edu and dclm
    url = fake_server()
    cfg = RunConfig.model_validate({"source": {"path": str(corpus)}, "routing": routes, "output": {"dir": str(out)},
                                    "engine": {"kind": "openai", "base_url": url, "model": "fake-model"}})
    stats = run_config(cfg, progress=False)
    assert stats.conservation_ok and stats.rows.expected == 12
    assert len(list((out / "scores").glob("*/*.parquet"))) == 2  # nothing scored again
    result = json.loads(_cli("stats", str(out), "--no-quality", "--json"))
    assert result["routes"]["high_quality"]["documents"] == 6
    assert result["route_source_scores"]["routes"]["high_quality"]["edu"]["n"] == 6


def _cli(*args: str) -> str:
    """The CLI in this process (the classifiers' torch is loaded already: a subprocess would load it again)."""
    from typer.testing import CliRunner

    from rephraser.cli import app

    r = CliRunner().invoke(app, list(args))
    assert r.exit_code == 0, r.output
    return r.stdout
