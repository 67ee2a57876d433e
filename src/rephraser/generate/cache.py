"""Content-addressed request cache (one SQLite file per shard).

Key = sha256 of everything that determines a completion: the exact messages sent, the model id, the
sampling parameters (including the per-request seed) and the prompt's hash. After a crash, finished
calls are replayed from here instead of being paid for again; adding a prompt or documents to a run
costs only the new calls. One file per shard means concurrent workers never contend on a lock.
WAL mode makes every committed entry survive `kill -9` of the process.

The cache only saves money; it never decides a document's fate. When it cannot be opened, read or
written (disk full, quota, read-only, corrupt file) it switches itself off with one warning and the
run goes on without it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

from rephraser.engines.base import Completion
from rephraser.logs import get_logger

log = get_logger(__name__)


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
        self.path = path
        self.hits = 0
        self.misses = 0
        self.db: sqlite3.Connection | None = None
        self.disabled: str | None = None  # why the cache was switched off
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(path, isolation_level=None)  # autocommit: each put is durable on its own
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS completions (key TEXT PRIMARY KEY, text TEXT NOT NULL, finish_reason TEXT, "
                "prompt_tokens INTEGER, completion_tokens INTEGER, attempts INTEGER)"
            )
        except (sqlite3.Error, OSError) as e:
            self._disable(e)

    def _disable(self, e: BaseException) -> None:
        if self.db is not None:
            with contextlib.suppress(sqlite3.Error):
                self.db.close()
        self.db = None
        self.disabled = f"{type(e).__name__}: {e}"
        log.warning(f"request cache {self.path} failed ({e}); continuing without it (calls finished from now on will "
                    "not be replayed after a crash)")

    def get(self, key: str) -> tuple[Completion, int] | None:
        if self.db is None:
            return None
        try:
            row = self.db.execute(
                "SELECT text, finish_reason, prompt_tokens, completion_tokens, attempts FROM completions WHERE key=?",
                (key,),
            ).fetchone()
        except (sqlite3.Error, OSError) as e:
            self._disable(e)
            return None
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        text, finish, pt, ct, attempts = row
        return Completion(text=text, finish_reason=finish, prompt_tokens=pt, completion_tokens=ct), attempts

    def put(self, key: str, c: Completion, attempts: int) -> None:
        if self.db is None:
            return
        try:
            self.db.execute(
                "INSERT OR REPLACE INTO completions VALUES (?,?,?,?,?,?)",
                (key, c.text, c.finish_reason, c.prompt_tokens, c.completion_tokens, attempts),
            )
        except (sqlite3.Error, OSError) as e:
            self._disable(e)

    def close(self) -> None:
        if self.db is not None:
            with contextlib.suppress(sqlite3.Error):
                self.db.close()
            self.db = None
