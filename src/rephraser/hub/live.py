"""Upload a shard's committed data parts to a Hub dataset repo while its run goes on (`output.hub_repo`).

Only committed parts are uploaded: the runner hands over a part's files after its manifest is
written, never before. At start the shard lists the repo once and queues every committed data file
of this shard that is not there yet, so parts committed before a crash or preemption are uploaded
after the restart; a file already in the repo is never sent again (uploads are idempotent, and no
local record of uploads is needed). A background thread commits what is queued every `every_s`
seconds, one commit per round; the end of the run commits the rest. An upload that fails is logged
and retried next round — it never stops the run, and whatever is still pending at exit is uploaded
by the next start of the shard or by `rephraser push`.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from rephraser import storage
from rephraser.hub.client import HubError, HubRepo
from rephraser.logs import get_logger
from rephraser.storage import Location

log = get_logger(__name__)

DATA_PREFIX = "data/"


class LiveUploads:
    def __init__(self, out: Location, repo: HubRepo, tag: str, *, every_s: float, private: bool):
        self.out, self.repo, self.tag = out, repo, tag
        self.every_s, self.private = every_s, private
        self.pending: list[str] = []
        self.uploaded = 0
        self.remote: set[str] = set()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None
        self.rounds = 0

    def start(self, committed: list[str]) -> None:
        """List the repo, queue this shard's committed files it lacks, start the upload thread."""
        self.repo.ensure(self.private)
        self.remote = self.repo.files()
        self.committed(committed)
        self.thread = threading.Thread(target=self._loop, name=f"hub-upload-{self.tag}", daemon=True)
        self.thread.start()

    def committed(self, files: list[str]) -> None:
        """Files of newly committed parts (paths relative to the output folder)."""
        with self.lock:
            self.pending.extend(f for f in files if f.startswith(DATA_PREFIX) and f not in self.remote)

    def _loop(self) -> None:
        while not self.stop.wait(self.every_s):
            self.upload_pending()

    def upload_pending(self) -> bool:
        """One commit of everything queued; False (and the files stay queued) when the Hub refused."""
        with self.lock:
            batch = sorted(set(self.pending))
            self.pending = []
        if not batch:
            return True
        try:
            self.repo.commit({f: self._content(f) for f in batch},
                             f"rephraser: {len(batch)} file(s) of shard {self.tag}")
        except (HubError, OSError) as e:
            with self.lock:
                self.pending = batch + self.pending
            log.warning(f"hub upload of {len(batch)} file(s) failed, will retry: {e}")
            return False
        with self.lock:
            self.remote.update(batch)
            self.uploaded += len(batch)
        self.rounds += 1
        return True

    def _content(self, rel: str) -> Path | bytes:
        loc = self.out / rel
        return loc if isinstance(loc, Path) else storage.read_bytes(loc)

    def close(self, *, final: bool) -> dict[str, Any]:
        """Stop the thread; with final=True (the run ended normally) upload what is left first."""
        self.stop.set()
        if self.thread is not None:
            self.thread.join()
        if final:
            for _ in range(3):
                if self.upload_pending():
                    break
        with self.lock:
            pending = len(set(self.pending))
        return {"repo": self.repo.repo, "uploaded_files": self.uploaded, "pending_files": pending}
