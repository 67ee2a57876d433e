"""Routing decisions: the first route that holds decides, every fact it looked at is recorded, weighted
draws are deterministic per (seed, document) and follow the weights, and each built-in predicate reads
real text (the embedded Wikipedia extracts in English, French and Spanish)."""

from __future__ import annotations

import json
import sys
import textwrap
from collections import Counter

import pytest

from helpers import wiki_texts
from rephraser.errors import ConfigError
from rephraser.records import Document
from rephraser.route_config import RoutingConfig
from rephraser.routing import Router, RoutingError
from rephraser.routing.features import count_numbers, detect_language, has_list, has_table
from rephraser.sources.wiki import wiki_data_path


def _router(routing: dict, scores=None) -> Router:
    return Router(RoutingConfig.model_validate(routing), scores)


def _doc(text: str, id: str = "d") -> Document:
    return Document(id=id, text=text)


def test_first_route_that_holds_decides_and_its_facts_are_recorded():
    r = _router({"routes": [
        {"name": "facts", "when": {"numbers": {"min": 3}}, "prompts": ["table"]},
        {"name": "some", "when": {"numbers": 1, "not": {"regex": "(?i)election"}}, "prompts": ["math"]},
    ], "default": {"prompts": ["faq", "tutorial"]}})
    d = r.decide(_doc("In 1990, 2,500 people and 3.5 tonnes"))
    assert (d.route, d.prompts, d.values) == ("facts", ("table",), {"numbers": 3})
    d = r.decide(_doc("The 1990 election"))
    assert d.route == "default" and d.prompts == ("faq", "tutorial")
    assert d.values == {"numbers": 1, "regex:(?i)election": True}  # why `some` did not hold
    d = r.decide(_doc("Founded in 1990."))
    assert d.route == "some" and d.values_json() == '{"numbers":1,"regex:(?i)election":false}'


def test_weighted_draws_are_deterministic_and_follow_the_weights():
    spec = {"default": {"prompts": {"math": 3, "faq": 1}}}
    r = _router(spec)
    docs = [_doc("x", id=f"doc{i}") for i in range(2000)]
    first = [r.decide(d).prompts for d in docs]
    assert first == [_router(spec).decide(d).prompts for d in reversed(docs)][::-1]  # order-free, a new router
    share = Counter(p for (p,) in first)["math"] / len(docs)
    assert 0.70 < share < 0.80  # weight 3:1
    reseeded = [_router({**spec, "seed": 1}).decide(d).prompts for d in docs]
    assert reseeded != first
    two = _router({"default": {"prompts": ["a", "b", "c"], "pick": 2}})
    picks = [two.decide(d).prompts for d in docs[:300]]
    assert all(len(p) == 2 and list(p) == sorted(p) for p in picks)  # listed order kept
    assert len(set(picks)) == 3  # every pair occurs


def test_number_table_and_list_facts():
    assert count_numbers("1,234.5 and 3.14, then 7 of 2020") == 4
    assert count_numbers("no digits at all") == 0
    assert has_table("| a | b |\n|---|---|\n| 1 | 2 |") and has_table("x\ty\n1\t2\n")
    assert not has_table("a | b\nplain text") and not has_table("one\tline only")
    assert has_list("Steps:\n- mix\n- bake\n") and has_list("1. first\n2) second")
    assert not has_list("- a single bullet\ntext")


def test_language_of_real_extracts():
    for lang in ("en", "fr", "es"):
        texts = wiki_texts(40) if lang == "en" else _wiki(lang, 40)
        found = Counter(detect_language(t)[0] for t in texts)
        assert found[lang] >= 36, (lang, found)  # short leads full of names: most, not all
    assert detect_language("1990 2000 | 3") == ("unknown", 0.0)
    r = _router({"routes": [{"name": "fr", "when": {"language": "fr"}, "prompts": ["faq"]}],
                 "default": {"prompts": ["math"]}})
    d = r.decide(_doc(_wiki("fr", 1)[0]))
    assert d.route == "fr" and d.values["language"] == "fr" and d.values["language_share"] > 0.1


def _wiki(lang: str, n: int) -> list[str]:
    """The first n French / Spanish extracts the same data package carries beside the English ones."""
    path = wiki_data_path().parent / f"summaries_{ {'fr': 'fr-fr', 'es': 'es-es'}[lang]}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    texts = [v.get("extract") if isinstance(v, dict) else v for _, v in sorted(data.items())]
    return [t for t in texts if isinstance(t, str) and len(t) > 80][:n]


def test_tokens_use_the_given_tokenizer_or_the_estimate(tmp_path):
    r = _router({"routes": [{"name": "long", "when": {"tokens": {"min": 10}}, "prompts": ["faq"]}],
                 "default": {"prompts": ["math"]}})
    assert r.decide(_doc("x" * 36)).values == {"tokens": 9}  # ≈4 bytes per token
    assert r.decide(_doc("x" * 40)).route == "long"
    with pytest.raises(ConfigError, match="tokenizer.json"):
        _router({"tokenizer": str(tmp_path / "absent"), "default": {"prompts": ["a"]},
                 "routes": [{"name": "t", "when": {"tokens": 1}, "prompts": ["a"]}]})


def test_any_or_and_a_user_function(tmp_path, monkeypatch):
    (tmp_path / "my_rules.py").write_text(textwrap.dedent("""
        def wordy(doc):
            return len(doc.text.split())
        def broken(doc):
            raise ValueError("no luck")
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("my_rules", None)
    r = _router({"routes": [
        {"name": "either", "when": {"any": [{"regex": "^Q:"}, {"function": "my_rules:wordy", "numbers": {"max": 0}}]},
         "prompts": ["faq"]}], "default": {"prompts": ["math"]}})
    d = r.decide(_doc("three plain words"))
    assert d.route == "either" and d.values["function:my_rules:wordy"] == 3
    assert r.decide(_doc("")).route == "default"  # 0 words: falsy
    bad = _router({"routes": [{"name": "b", "when": {"function": "my_rules:broken"}, "prompts": ["faq"]}],
                   "default": {"prompts": ["math"]}})
    with pytest.raises(RoutingError, match="my_rules:broken raised ValueError: no luck"):
        bad.decide(_doc("text"))
    for path, msg in (("no_such_mod:f", "cannot import no_such_mod"), ("my_rules:absent", "has no 'absent'")):
        with pytest.raises(ConfigError, match=msg):
            _router({"routes": [{"name": "x", "when": {"function": path}, "prompts": ["a"]}],
                     "default": {"prompts": ["a"]}})


def test_score_thresholds_read_the_given_scores():
    doc = _doc("a document")
    r = _router({"classifiers": {"edu": {"path": "unused"}},
                 "routes": [{"name": "hq", "when": {"score": {"edu": {"min": 3}}}, "prompts": ["distill"]}],
                 "default": {"prompts": ["wikipedia_style_rephrasing"]}}, {doc.text_hash: {"edu": 3.2}})
    d = r.decide(doc)
    assert d.route == "hq" and d.values == {"score.edu": 3.2}
    with pytest.raises(RuntimeError, match="scoring pass did not see it"):
        r.decide(_doc("another"))
