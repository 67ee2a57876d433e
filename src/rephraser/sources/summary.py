"""Read a whole source once and count what a run would get: documents, rejections by kind.

Used by `rephraser source check` so a user can fix their input before spending any model time.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from rephraser.config import SourceConfig
from rephraser.records import Document
from rephraser.sources.describe import describe_source
from rephraser.sources.reader import iter_source
from rephraser.sources.sharding import describe_plan, plan_shards


def reason_kind(reason: str) -> str:
    """Group reasons that differ only in details: "document too long: 5,000 chars > ..." ->
    "document too long", "invalid UTF-8 at byte 26" -> "invalid UTF-8 at byte N"."""
    head = reason.split(" (", 1)[0].split(":", 1)[0]
    return re.sub(r"(?<![\w-])\d[\d,.]*", "N", head)  # not the 8 of "UTF-8"


@dataclass
class SourceSummary:
    description: str
    documents: int = 0
    rejected: int = 0
    total_chars: int = 0
    max_chars: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)  # reason kind -> first origin
    sharding: str = ""  # how this shard's part was chosen, when there is more than one shard

    @property
    def mean_chars(self) -> float:
        return self.total_chars / self.documents if self.documents else 0.0


def summarize_source(cfg: SourceConfig) -> SourceSummary:
    summary = SourceSummary(describe_source(cfg))
    plan = plan_shards(cfg)
    if cfg.shard_count > 1:
        summary.sharding = describe_plan(plan, cfg.shard_index)
    for item in iter_source(cfg, plan=plan):
        if isinstance(item, Document):
            summary.documents += 1
            summary.total_chars += len(item.text)
            summary.max_chars = max(summary.max_chars, len(item.text))
        else:
            summary.rejected += 1
            kind = reason_kind(item.reason)
            summary.reasons[kind] += 1
            summary.examples.setdefault(kind, f"{item.origin}: {item.reason}")
    return summary
