"""`experiment status` on the local executor uses the docs' words: pending (not started / partly done) and
running (a live process holds a writer lease in the stage's folder)."""

from __future__ import annotations

import os

from rephraser.experiments.local_executor import folder_state
from rephraser.writer_leases import shard_writer


def test_a_started_stage_without_a_writer_is_pending_and_resumable(tmp_path):
    folder = tmp_path / "stage"
    (folder / "leases").mkdir(parents=True)
    r = folder_state(folder)
    assert (r.state, r.detail) == ("pending", "partly done: a rerun resumes it")
    with shard_writer(folder, "s00000-of-00001"):
        pass  # a released lease is no live writer
    assert folder_state(folder).state == "pending"


def test_a_stage_a_live_process_writes_is_running(tmp_path):
    folder = tmp_path / "stage"
    folder.mkdir()
    with shard_writer(folder, "s00000-of-00001"):
        r = folder_state(folder)
    assert (r.state, r.where) == ("running", "local") and f"pid {os.getpid()}" in r.detail
