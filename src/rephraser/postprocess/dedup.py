"""Exact and near-duplicate detection over generations.

Exact: the hash of the normalised text (lowercase, punctuation removed, whitespace collapsed), so two
outputs that differ only in case or punctuation count as the same. Near: MinHash LSH (datasketch) over
word 5-shingles; LSH candidates are confirmed with the MinHash Jaccard estimate so a bucket collision
alone never marks a duplicate. Duplicates are grouped into clusters (union-find, so A~B and B~C put
A, B, C together); "drop" keeps the first member of each cluster in input order.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Hashable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import groupby
from pathlib import Path
from typing import Any, Literal, NamedTuple

from rephraser.run_folder import PartFile, iter_rows

_NON_WORD = re.compile(r"[^\w\s]|_")
_SPACE = re.compile(r"\s+")


class RowKey(NamedTuple):
    prompt: str
    id: str
    sample: int
    model: str = ""  # a prompt folder may hold several generators' rows for the same id

    def __str__(self) -> str:
        return f"{self.prompt}/{self.id}#{self.sample}" + (f"@{self.model}" if self.model else "")


def normalize_text(text: str) -> str:
    return _SPACE.sub(" ", _NON_WORD.sub(" ", text.lower())).strip()


def exact_key(text: str) -> str:
    return hashlib.sha1(normalize_text(text).encode("utf-8", "surrogatepass")).hexdigest()


def shingles(text: str, k: int = 5) -> set[bytes]:
    """Word k-shingles of the normalised text; a text shorter than k words is one shingle."""
    words = normalize_text(text).split()
    if not words:
        return set()
    if len(words) < k:
        return {" ".join(words).encode("utf-8", "surrogatepass")}
    return {" ".join(words[i : i + k]).encode("utf-8", "surrogatepass") for i in range(len(words) - k + 1)}


@dataclass
class DedupReport:
    exact_dupes: int = 0  # items whose normalised text equals an earlier item's
    near_dupes: int = 0  # items in a cluster that are not exact copies of an earlier item
    clusters: list[list[Any]] = field(default_factory=list)  # members in input order, first = kept
    duplicate_of: dict[Any, tuple[Any, str]] = field(default_factory=dict)  # item -> (kept item, exact|near)
    items: int = 0

    @property
    def dropped(self) -> set[Any]:
        return set(self.duplicate_of)

    def merge(self, other: DedupReport) -> None:
        self.exact_dupes += other.exact_dupes
        self.near_dupes += other.near_dupes
        self.clusters.extend(other.clusters)
        self.duplicate_of.update(other.duplicate_of)
        self.items += other.items

    def to_dict(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "exact_dupes": self.exact_dupes,
            "near_dupes": self.near_dupes,
            "clusters": [[str(k) for k in c] for c in self.clusters],
        }


class _UnionFind:
    def __init__(self) -> None:
        self.parent: list[int] = []

    def add(self) -> int:
        self.parent.append(len(self.parent))
        return len(self.parent) - 1

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:  # the smaller index (earlier item) stays the root
            self.parent[max(ra, rb)] = min(ra, rb)


def find_duplicates(
    items: Iterable[tuple[Hashable, str]],
    *,
    near: bool = True,
    threshold: float = 0.8,
    num_perm: int = 128,
    shingle_words: int = 5,
    seed: int = 1,
) -> DedupReport:
    """Clusters of exact and (if `near`) near duplicates among (key, text) items; keys must be unique."""
    if not 0 < threshold <= 1:
        raise ValueError("threshold must be in (0, 1]")
    from datasketch import MinHash, MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm) if near else None
    sketches: dict[int, MinHash] = {}
    uf = _UnionFind()
    keys: list[Hashable] = []
    exact_first: dict[str, int] = {}
    is_exact: list[bool] = []
    for key, text in items:
        i = uf.add()
        keys.append(key)
        h = exact_key(text or "")
        if h in exact_first:
            uf.union(exact_first[h], i)
            is_exact.append(True)
            continue
        exact_first[h] = i
        is_exact.append(False)
        if lsh is None:
            continue
        sh = shingles(text or "", shingle_words)
        if not sh:
            continue
        m = MinHash(num_perm=num_perm, seed=seed)
        m.update_batch(list(sh))
        for cand in lsh.query(m):
            if m.jaccard(sketches[cand]) >= threshold:
                uf.union(cand, i)
        lsh.insert(i, m)
        sketches[i] = m

    groups: dict[int, list[int]] = {}
    for i in range(len(keys)):
        groups.setdefault(uf.find(i), []).append(i)
    report = DedupReport(items=len(keys))
    for root in sorted(groups):
        members = groups[root]
        if len(members) < 2:
            continue
        report.clusters.append([keys[i] for i in members])
        for i in members[1:]:
            kind = "exact" if is_exact[i] else "near"
            report.duplicate_of[keys[i]] = (keys[members[0]], kind)
            if kind == "exact":
                report.exact_dupes += 1
            else:
                report.near_dupes += 1
    return report


def dedup_folder(
    out_dir: str | Path,
    *,
    scope: Literal["prompt", "all"] = "prompt",
    near: bool = True,
    threshold: float = 0.8,
    num_perm: int = 128,
) -> DedupReport:
    """Duplicates among the ok rows' generations of a run folder, within each prompt or across all.

    Rows stream in (parts come sorted by prompt folder); only keys and MinHash sketches are kept.
    """
    rows = iter_rows(out_dir, ("id", "sample", "prompt", "model", "generation"), statuses=("ok",))

    def items(stream: Iterable[tuple[PartFile, dict[str, Any]]]) -> Iterator[tuple[RowKey, str]]:
        for _part, row in stream:
            yield RowKey(row["prompt"], row["id"], int(row["sample"] or 0), row["model"] or ""), row["generation"] or ""

    kw = {"near": near, "threshold": threshold, "num_perm": num_perm}
    if scope == "all":
        return find_duplicates(items(rows), **kw)
    report = DedupReport()
    for _prompt, group in groupby(rows, key=lambda pr: pr[0].prompt):
        report.merge(find_duplicates(items(group), **kw))
    return report
