"""Token-ratio mixtures, streamed: inputs far larger than memory are mixed in two passes.

1. Count: each component is read once; only its documents' token counts are kept (int64 each).
2. Select (selection.py): per component, seeded permutations over the counts pick whole documents
   and cut the one that crosses the component's token target; the picked rows of all components are
   then shuffled together (seeded) into their output positions.
3. Take: each component is read a second time; each picked document's text goes, with its output
   position, into the bucket of the output part it belongs to (spill.py: in memory up to a byte
   budget, on disk beyond it); each part is then sorted by position and written.

Memory: the token counts (8 bytes per input document), a few int64 per mixed row, the spill budget
and one output part — never a component's texts. Same config + same inputs -> byte-identical output
(the selection and order are those of the earlier in-memory mixer; tests pin them).
"""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from rephraser import storage
from rephraser.errors import ConfigError, SourceError
from rephraser.lease import Lease
from rephraser.mix.components import ComponentReader, no_documents_error, open_component
from rephraser.mix.config import MixConfig
from rephraser.mix.counting import TokenCounter, make_counter
from rephraser.mix.selection import Picks, allocate, select
from rephraser.mix.spill import PartBuckets
from rephraser.writer_leases import sole_writer

__all__ = ["MIX_SCHEMA", "allocate", "run_mix"]

_FINAL_SHUFFLE_STREAM = 1_000_003  # a seed stream no component index can collide with
DEFAULT_MEMORY_BUDGET = 256 << 20  # bytes of picked text held before spilling to disk
SPILL_DIR = ".mix-spill"

MIX_SCHEMA = pa.schema(
    [
        ("text", pa.string()),
        ("component", pa.string()),
        ("origin_id", pa.string()),
        ("tokens", pa.int64()),
        ("epoch", pa.int32()),
        ("truncated", pa.bool_()),
    ]
)


class _Component:
    """A component between the passes: its reader, counts, picks and skipped-row reasons."""

    def __init__(self, reader: ComponentReader, counter: TokenCounter):
        self.reader = reader
        chunks = [counter.count_array(b.texts) for b in reader.batches()]
        self.counts = np.concatenate(chunks) if chunks else np.zeros(0, np.int64)
        self.skipped = dict(reader.skipped)
        if not len(self.counts):
            raise no_documents_error(reader)
        self.picks: Picks | None = None
        self.licenses: Counter[str] = Counter()  # of the picked rows (repeats counted), filled by _take

    def text_at(self, j: int) -> str:
        """Document j's text, by reading up to it (needed only to count a cut with a real tokenizer)."""
        seen = 0
        for batch in self.reader.batches():
            if j < seen + len(batch.texts):
                return batch.texts[j - seen].as_py()
            seen += len(batch.texts)
        raise SourceError(f"component {self.reader.label} ({self.reader.path}) changed while the mixture was built")


def run_mix(cfg: MixConfig, overwrite: bool = False, *, memory_budget: int = DEFAULT_MEMORY_BUDGET) -> dict[str, Any]:
    """Build the mixture described by cfg under cfg.output; returns the manifest. The folder's lease is
    held throughout: a second mix into the same folder is refused (exit 75) instead of mixing parts."""
    out = storage.as_location(cfg.output)
    storage.check_writable(out)
    with sole_writer(out, "rephraser mix") as lease:
        return _build_mix(cfg, out, overwrite, memory_budget, lease)


def _build_mix(cfg: MixConfig, out: storage.Location, overwrite: bool, memory_budget: int, lease: Lease) -> dict[str, Any]:
    spill = storage.local_work_dir(out) / SPILL_DIR  # scratch stays on this machine's disk, also for a remote output
    _prepare_output(out, spill, overwrite)
    counter = make_counter(cfg.tokenizer)
    targets = allocate(cfg.tokens, cfg.shares())
    comps: list[_Component] = []
    stats: list[dict[str, Any]] = []
    for i, (spec, share, target) in enumerate(zip(cfg.components, cfg.shares(), targets, strict=True)):
        comp = _Component(open_component(spec), counter)
        available = int(comp.counts.sum())
        if available == 0:
            raise ConfigError(f"component {comp.reader.label}: every document counts 0 tokens")

        def cut_tokens(j: int, n: int, comp: _Component = comp) -> int:
            if counter.exact_cuts:
                return n
            return counter.count([counter.truncate(comp.text_at(j), n)])[0]

        comp.picks = picks = select(comp.counts, target, np.random.default_rng([cfg.seed, i]), cut_tokens)
        comps.append(comp)
        achieved = int(picks.tokens.sum())
        stats.append(
            {
                "name": comp.reader.label,
                "kind": comp.reader.kind,
                "path": spec.path,
                "prompt": spec.prompt,
                "weight": spec.weight,
                "requested_share": share,
                "requested_tokens": target,
                "achieved_tokens": achieved,
                "available_documents": len(comp.counts),
                "available_tokens": available,
                "documents": len(picks),
                "unique_documents": len(np.unique(picks.doc)),
                "epochs": picks.epochs,
                "repeat_factor": round(achieved / available, 6),
                "truncated_documents": int((picks.cut_to >= 0).sum()),
                "skipped_inputs": comp.skipped,
            }
        )
    total = sum(s["achieved_tokens"] for s in stats)
    for s in stats:
        s["achieved_share"] = s["achieved_tokens"] / total if total else 0.0
        s["share_error"] = abs(s["achieved_share"] - s["requested_share"])
    rows = sum(len(c.picks) for c in comps)  # type: ignore[arg-type]
    order = np.random.default_rng([cfg.seed, _FINAL_SHUFFLE_STREAM]).permutation(rows)
    position = np.empty(rows, np.int64)
    position[order] = np.arange(rows, dtype=np.int64)  # output position of the r-th picked row
    buckets = PartBuckets(spill, cfg.rows_per_part, memory_budget)
    first = 0
    for i, comp in enumerate(comps):
        n_picks = len(comp.picks)  # type: ignore[arg-type]
        _take(comp, i, position[first : first + n_picks], counter, buckets)
        first += n_picks
    parts = _write_parts(out, buckets, [c.reader.label for c in comps], rows, cfg.rows_per_part)
    # The licence travels with the data: what each component's mixed rows were derived from (source metadata).
    for s, comp in zip(stats, comps, strict=True):
        s["licenses"] = dict(comp.licenses.most_common())
    licenses: Counter[str] = Counter()
    for comp in comps:
        licenses.update(comp.licenses)
    shutil.rmtree(spill, ignore_errors=True)
    manifest = {
        "format": "rephraser-mix/1",
        "token_counter": counter.name,
        "selection": "seeded permutation per component and epoch; the crossing document is truncated",
        "seed": cfg.seed,
        "requested_tokens": cfg.tokens,
        "achieved_tokens": total,
        "documents": rows,
        "max_share_error": max(s["share_error"] for s in stats),
        "licenses": dict(licenses.most_common()),
        "components": stats,
        "parts": parts,
    }
    lease.ensure_held(check_store=True)  # a writer whose lease was taken over never writes the commit marker
    storage.write_text(out / "mix.yaml", yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False))
    storage.write_json(out / "manifest.json", manifest)  # last: the commit marker
    return manifest


def _take(comp: _Component, index: int, positions: np.ndarray, counter: TokenCounter, buckets: PartBuckets) -> None:
    """Second pass over one component: every picked document's text, with its output position(s)."""
    picks = comp.picks
    assert picks is not None
    by_doc = np.argsort(picks.doc, kind="stable")
    docs = picks.doc[by_doc]
    seen = 0
    for batch in comp.reader.batches():
        size = len(batch.texts)
        lo, hi = np.searchsorted(docs, [seen, seen + size], side="left")
        if hi > lo:
            rows = by_doc[lo:hi]
            local = pa.array(docs[lo:hi] - seen, pa.int64())
            texts = batch.texts.take(local)
            tokens = picks.tokens[rows]
            cut_to = picks.cut_to[rows]
            if (cut_to >= 0).any():
                values = texts.to_pylist()
                for k in np.flatnonzero(cut_to >= 0):
                    values[k] = counter.truncate(values[k], int(cut_to[k]))
                texts = pa.array(values, pa.string())
            if counter.exact_cuts and not np.array_equal(counter.count_array(texts), tokens):
                raise SourceError(f"component {comp.reader.label} ({comp.reader.path}) changed while the mixture "
                                  "was built (token counts differ between the two passes); mix again")
            if batch.licenses is not None:
                for k in docs[lo:hi] - seen:
                    comp.licenses[batch.licenses[int(k)] or "unknown"] += 1
            buckets.add(pa.table({
                "pos": pa.array(positions[rows], pa.int64()),
                "text": texts,
                "component": pa.array(np.full(len(rows), index, np.int32)),
                "origin_id": batch.origin_ids.take(local),
                "tokens": pa.array(tokens, pa.int64()),
                "epoch": pa.array(picks.epoch[rows], pa.int32()),
                "truncated": pa.array(cut_to >= 0, pa.bool_()),
            }))
        seen += size
    if seen != len(comp.counts):
        raise SourceError(f"component {comp.reader.label} ({comp.reader.path}) changed while the mixture was built "
                          f"({len(comp.counts):,} documents, then {seen:,}); mix again")


def _write_parts(out: storage.Location, buckets: PartBuckets, labels: list[str], rows: int, rows_per_part: int) -> list[str]:
    names = []
    label_array = pa.array(labels, pa.string())
    for n, start in enumerate(range(0, max(rows, 1), rows_per_part)):
        expected = min(rows_per_part, rows - start)
        if expected > 0:
            t = buckets.take_part(n, expected)
            cols = {
                "text": t.column("text"),
                "component": pc.take(label_array, t.column("component")),
                "origin_id": t.column("origin_id"),
                "tokens": t.column("tokens"),
                "epoch": t.column("epoch"),
                "truncated": t.column("truncated"),
            }
            table = pa.table(cols, schema=MIX_SCHEMA).combine_chunks()
        else:
            table = MIX_SCHEMA.empty_table()
        name = f"part-{n:05d}.parquet"
        storage.write_table(table, out / "data" / name, compression="snappy", sync_dir=False)
        names.append(f"data/{name}")
    storage.sync_folder(out / "data")
    return names


def _prepare_output(out: storage.Location, spill: Path, overwrite: bool) -> None:
    storage.check_writable(out)
    entries = storage.listdir(out)  # first touch of a remote output: a missing bucket or bad credentials fail here
    if "manifest.json" in entries or "data" in entries:
        if not overwrite:
            raise ConfigError(f"{out} already holds a mixture; pass --overwrite to replace it")
        storage.remove(out / "manifest.json")  # the commit marker goes first
        storage.remove_tree(out / "data")
    shutil.rmtree(spill, ignore_errors=True)
    storage.makedirs(out / "data")


