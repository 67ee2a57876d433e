"""Loading the documents of one mixture component.

A component is either a rephraser output folder (its `data/<prompt>/*.parquet` rows, where only
status=ok rows live; the `generation` column is the training text) or a source of original
documents read with `rephraser.sources.iter_source`, so every source format and validation rule
of `rephraser run` applies here too. Nothing is dropped silently: skipped rows are counted with
their reason and reported in the mix manifest.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from rephraser.errors import ConfigError, SourceError
from rephraser.mix.config import MixComponent


@dataclass
class ComponentDocs:
    label: str
    kind: str
    origin_ids: list[str]
    texts: list[str]
    skipped: Counter[str] = field(default_factory=Counter)


def load_component(c: MixComponent) -> ComponentDocs:
    kind = c.resolved_kind()
    docs = _load_rephrased(c) if kind == "rephrased" else _load_source(c)
    if not docs.texts:
        why = ", ".join(f"{n} {r}" for r, n in docs.skipped.items()) or "no rows"
        raise SourceError(f"component {c.label()} ({c.path}) has no usable documents ({why})")
    return docs


def _load_rephrased(c: MixComponent) -> ComponentDocs:
    import pyarrow.parquet as pq

    data = Path(c.path) / "data"
    if not data.is_dir():
        raise SourceError(f"{c.path} is not a rephraser output folder (no data/ folder)")
    if c.prompt:
        if not (data / c.prompt).is_dir():
            have = sorted(p.name for p in data.iterdir() if p.is_dir())
            raise ConfigError(f"{c.path} has no prompt {c.prompt!r} (has: {', '.join(have) or 'none'})")
        files = sorted((data / c.prompt).glob("*.parquet"))
    else:
        files = sorted(data.glob("*/*.parquet"))
    docs = ComponentDocs(label=c.label(), kind="rephrased", origin_ids=[], texts=[])
    for f in files:
        try:
            table = pq.read_table(f, columns=["id", "sample", "prompt", "generation", "status"])
        except Exception as e:  # noqa: BLE001 - pyarrow raises several types for unreadable files
            raise SourceError(f"cannot read {f}: {str(e).splitlines()[0]}") from None
        for row in table.to_pylist():
            if row["status"] != "ok":
                docs.skipped[f"status={row['status']}"] += 1
            elif not row["generation"]:
                docs.skipped["empty generation"] += 1
            else:
                docs.origin_ids.append(f"{row['prompt']}:{row['id']}#{row['sample']}")
                docs.texts.append(row["generation"])
    return docs


def _load_source(c: MixComponent) -> ComponentDocs:
    try:
        from rephraser.sources import iter_source
    except ImportError:
        raise ConfigError("source components need rephraser.sources.iter_source, which is not available") from None
    from rephraser.config import SourceConfig

    is_wiki = c.path == "wiki"
    cfg = SourceConfig(path=None if is_wiki else c.path, text_column=c.text_column)
    docs = ComponentDocs(label=c.label(), kind="source", origin_ids=[], texts=[])
    for item in iter_source(cfg):
        text = getattr(item, "text", None)
        if hasattr(item, "reason"):  # a Rejection
            docs.skipped[f"rejected: {item.reason}"] += 1
        elif not text:
            docs.skipped["empty text"] += 1
        else:
            docs.origin_ids.append(item.id)
            docs.texts.append(text)
    return docs
