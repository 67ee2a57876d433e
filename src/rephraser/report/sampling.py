"""Pick the rows the viewer embeds: deterministic, stratified, and biased to shared documents.

Rows are ranked by a hash of (seed, document id), so the SAME documents are picked for every prompt and
model: the viewer can then show one source next to all its rewrites. Groups (prompt, status) are filled
round-robin so a rare fate (a few rejected rows among thousands) is still visible.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from rephraser.run_folder import RowRef


def rank(seed: int, doc_id: str, sample: int) -> str:
    return hashlib.sha256(f"{seed}\x00{doc_id}\x00{sample}".encode()).hexdigest()


def pick_rows(scanned: Iterable[tuple[RowRef, dict[str, Any]]], max_rows: int, seed: int = 0) -> list[RowRef]:
    """At most max_rows references, chosen deterministically (round-robin over groups; callers order them)."""
    groups: dict[tuple[str, str], list[tuple[str, RowRef]]] = defaultdict(list)
    for ref, row in scanned:
        key = (str(row.get("prompt")), str(row.get("status")))
        groups[key].append((rank(seed, str(row.get("id")), int(row.get("sample") or 0)), ref))
    for members in groups.values():
        members.sort(key=lambda m: m[0])
    chosen: list[RowRef] = []
    depth = 0
    keys = sorted(groups)
    while len(chosen) < max_rows:
        took = False
        for k in keys:
            if depth < len(groups[k]) and len(chosen) < max_rows:
                chosen.append(groups[k][depth][1])
                took = True
        if not took:
            break
        depth += 1
    return chosen
