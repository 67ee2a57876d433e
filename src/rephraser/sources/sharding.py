"""Deterministic sharding: a record's shard depends on its id only, never on input order."""

from __future__ import annotations

import hashlib


def shard_of(record_id: str, shard_count: int) -> int:
    """int(sha256(id)[:8 hex], 16) % shard_count — the same on every machine and Python version."""
    if shard_count <= 1:
        return 0
    digest = hashlib.sha256(record_id.encode("utf-8", "surrogatepass")).hexdigest()
    return int(digest[:8], 16) % shard_count
