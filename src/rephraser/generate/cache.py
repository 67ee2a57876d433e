"""Content-addressed request cache (one SQLite file per shard).

Key = sha256 of everything that determines a completion: the exact messages sent, the model id, the
sampling parameters (including the per-request seed) and the prompt's hash. After a crash, finished
calls are replayed from here instead of being paid for again; adding a prompt or documents to a run
costs only the new calls. One file per shard means concurrent workers never contend on a lock.
WAL mode makes every committed entry survive `kill -9` of the process.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

from rephraser.engines.base import Completion


def cache_key(messages: tuple[dict[str, str], ...], *, model_id: str, sampling: dict[str, Any],
              prompt_hash: str, continuation: bool, options: dict[str, Any] | None = None) -> str:
    """`options`: other request settings that change the completion (the enforced structure, chat
    template arguments); only present when set, so keys of plain requests stay as they were."""
    key: dict[str, Any] = {"m": list(messages), "model": model_id, "s": sampling, "p": prompt_hash, "c": continuation}
    if options:
        key["o"] = options
    blob = json.dumps(
        key,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(blob.encode("utf-8", "surrogatepass")).hexdigest()


class RequestCache:
    def __init__(self, path: Path):
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None)  # autocommit: each put is durable on its own
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS completions (key TEXT PRIMARY KEY, text TEXT NOT NULL, finish_reason TEXT, "
            "prompt_tokens INTEGER, completion_tokens INTEGER, attempts INTEGER)"
        )
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> tuple[Completion, int] | None:
        row = self.db.execute(
            "SELECT text, finish_reason, prompt_tokens, completion_tokens, attempts FROM completions WHERE key=?", (key,)
        ).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        text, finish, pt, ct, attempts = row
        return Completion(text=text, finish_reason=finish, prompt_tokens=pt, completion_tokens=ct), attempts

    def put(self, key: str, c: Completion, attempts: int) -> None:
        self.db.execute(
            "INSERT OR REPLACE INTO completions VALUES (?,?,?,?,?,?)",
            (key, c.text, c.finish_reason, c.prompt_tokens, c.completion_tokens, attempts),
        )

    def close(self) -> None:
        self.db.close()
