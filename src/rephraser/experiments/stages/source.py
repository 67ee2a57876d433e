"""source: split a grid source's documents into a training split and a held-out split."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from rephraser.atomic import atomic_open
from rephraser.config import SourceConfig
from rephraser.errors import RephraserError
from rephraser.experiments.stages.base import (
    KINDS,
    JsonObject,
    NoMeta,
    RunContext,
    Stage,
    StageOutputs,
    StageSpec,
    read_marker,
)
from rephraser.mix.tokenize import is_heldout
from rephraser.records import Rejection, document_record
from rephraser.sources import iter_source
from rephraser.sources.count import count_records


class SourceSpec(StageSpec):
    source: JsonObject  # a SourceConfig as JSON
    heldout_fraction: float

    def source_config(self) -> SourceConfig:
        return SourceConfig.model_validate(self.source)


class SourceOutputs(StageOutputs):
    train_documents: int = 0
    heldout_documents: int = 0
    rejected_records: dict[str, int] = {}


@KINDS.register
class SourceStage(Stage[SourceSpec, NoMeta]):
    kind = "source"
    rank = 0
    Outputs = SourceOutputs

    def run(self, ctx: RunContext) -> SourceOutputs:
        src = self.spec.source_config()
        counts: Counter[str] = Counter()
        rejected: Counter[str] = Counter()
        with atomic_open(ctx.dir / "train.jsonl", "w") as tr, atomic_open(ctx.dir / "heldout.jsonl", "w") as ho:
            for item in iter_source(src):
                if isinstance(item, Rejection):
                    rejected[item.reason.split(":")[0]] += 1
                    continue
                split = "heldout" if is_heldout(item.text, self.spec.heldout_fraction) else "train"
                counts[split] += 1
                line = json.dumps(document_record(item), ensure_ascii=False)
                (ho if split == "heldout" else tr).write(line + "\n")
        if counts["train"] == 0:
            raise RephraserError(f"source {src.path or 'wiki'} gave no training documents ({dict(rejected) or 'empty'})")
        ctx.log(f"source: {counts['train']} training / {counts['heldout']} held-out documents"
                + (f", {sum(rejected.values())} rejected records" if rejected else ""))
        return SourceOutputs(train_documents=counts["train"], heldout_documents=counts["heldout"],
                             rejected_records=dict(rejected))

    def texts(self, out: Path, split: str, limit: int | None = None) -> list[str]:
        """The document texts of one split (`train` or `heldout`) of a finished source stage."""
        texts = []
        with open(self.dir(out) / f"{split}.jsonl", encoding="utf-8") as fh:
            for line in fh:
                texts.append(json.loads(line)["text"])
                if limit is not None and len(texts) >= limit:
                    break
        return texts

    def train_documents(self, out: Path) -> int | None:
        """Documents in the training split: counted when the stage has run, else from the source's limit
        or a count of its records (None: a source only the cluster can read)."""
        marker = read_marker(self, out)
        if marker:
            return int(SourceOutputs.model_validate(marker.outputs).train_documents)
        src, frac = self.spec.source_config(), self.spec.heldout_fraction
        if src.limit is not None:
            return round(src.limit * (1 - frac))
        try:
            return round(count_records(src) * (1 - frac))
        except Exception:  # noqa: BLE001 - a source only the cluster can read: estimate without it
            return None
