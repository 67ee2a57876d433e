"""`experiment status` on the local executor uses the docs' words: pending (not started / partly done) and
running (a live process holds a writer lease in the stage's folder)."""

from __future__ import annotations

import os

from rephraser.experiments.status import StageStatus, _from_folder
from rephraser.writer_leases import shard_writer


def row() -> StageStatus:
    return StageStatus("generate", "k" * 16, ["faq/mix50"], "pending", detail="not started")


def test_a_started_stage_without_a_writer_is_pending_and_resumable(tmp_path):
    folder = tmp_path / "stage"
    (folder / "leases").mkdir(parents=True)
    r = row()
    _from_folder(r, folder)
    assert (r.state, r.detail) == ("pending", "partly done: a rerun resumes it")
    with shard_writer(folder, "s00000-of-00001"):
        pass  # a released lease is no live writer
    _from_folder(r, folder)
    assert r.state == "pending"


def test_a_stage_a_live_process_writes_is_running(tmp_path):
    folder = tmp_path / "stage"
    folder.mkdir()
    r = row()
    with shard_writer(folder, "s00000-of-00001"):
        _from_folder(r, folder)
    assert (r.state, r.where) == ("running", "local") and f"pid {os.getpid()}" in r.detail
