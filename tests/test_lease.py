"""The single-writer lease: refusal naming the holder, takeover of stale leases with exactly one winner,
heartbeat renewal, and self-fencing when the filesystem hangs."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from dataclasses import replace

import pytest

from rephraser.lease import Holder, Lease, LeaseHeld, LeaseLost, PosixLeaseStore, current_holder


def _record(store: PosixLeaseStore, name: str, gen: int, **changes) -> Holder:
    """Write a lease record as some other process would have left it."""
    lease = Lease(store, name, purpose="forged")
    h = replace(lease.me, **changes)
    assert store.create(name, gen, h.to_bytes())
    return h


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_second_writer_is_refused_with_the_holder_named(tmp_path):
    store = PosixLeaseStore(tmp_path)
    with Lease(store, "s0", purpose="rephraser run", what="shard s0").acquire():
        with pytest.raises(LeaseHeld) as e:
            Lease(store, "s0", purpose="other", what="shard s0").acquire()
        msg = str(e.value)
        assert "shard s0 is held by another writer" in msg and "pid" in msg and "rephraser run" in msg
        assert "\n" not in msg and e.value.exit_code == 75
        assert current_holder(store, "s0") is not None
    assert current_holder(store, "s0") is None  # released
    again = Lease(store, "s0", purpose="next").acquire()
    assert again.gen == 2 and store.generations("s0") == [2]  # older generations are cleaned up
    again.release()


def test_lease_of_a_dead_process_is_taken_over_at_once(tmp_path):
    store = PosixLeaseStore(tmp_path)
    _record(store, "s0", 1, pid=_dead_pid(), pid_start=None)
    lease = Lease(store, "s0", purpose="requeued").acquire()
    assert lease.gen == 2
    lease.release()


def test_other_machine_lease_expires_by_heartbeat_or_by_watching(tmp_path):
    store = PosixLeaseStore(tmp_path)
    _record(store, "old", 1, machine="elsewhere", heartbeat=time.time() - 120, ttl_s=60)
    Lease(store, "old", purpose="x").acquire().release()  # heartbeat older than its ttl: stale

    _record(store, "fresh", 1, machine="elsewhere", ttl_s=60)
    with pytest.raises(LeaseHeld):
        Lease(store, "fresh", purpose="x").acquire()
    # a holder whose clock runs ahead never looks expired; one that stops renewing is taken over
    # after we watched its record stay the same for its whole ttl
    _record(store, "skewed", 1, machine="elsewhere", heartbeat=time.time() + 3600, ttl_s=0.5)
    t0 = time.monotonic()
    Lease(store, "skewed", purpose="x").acquire(wait_s=30).release()
    assert time.monotonic() - t0 >= 0.5


def test_simultaneous_takeover_has_exactly_one_winner(tmp_path):
    store = PosixLeaseStore(tmp_path)
    _record(store, "s0", 7, pid=_dead_pid(), pid_start=None)
    n = 16
    barrier = threading.Barrier(n)
    won: list[Lease] = []
    refused: list[str] = []

    def start() -> None:
        lease = Lease(store, "s0", purpose="starter")
        barrier.wait()
        try:
            won.append(lease.acquire())
        except LeaseHeld as e:
            refused.append(str(e))

    threads = [threading.Thread(target=start) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(won) == 1 and len(refused) == n - 1
    assert won[0].gen == 8 and store.generations("s0") == [8]
    won[0].release()


def test_heartbeat_renews_and_a_takeover_is_noticed(tmp_path):
    store = PosixLeaseStore(tmp_path)
    lease = Lease(store, "s0", purpose="x", ttl_s=0.6).acquire()
    first = Holder.from_bytes(store.read("s0", lease.gen)).heartbeat
    deadline = time.monotonic() + 30
    while Holder.from_bytes(store.read("s0", lease.gen)).heartbeat == first and time.monotonic() < deadline:
        time.sleep(0.05)
    assert Holder.from_bytes(store.read("s0", lease.gen)).heartbeat > first
    lease.ensure_held(check_store=True)
    _record(store, "s0", lease.gen + 1, machine="elsewhere")  # someone judged us stale and took over
    with pytest.raises(LeaseLost, match="taken over"):
        lease.ensure_held(check_store=True)
    lease.release()


class HangingStore(PosixLeaseStore):
    """A filesystem that stops answering writes (a hung NFS server)."""

    def __init__(self, root):
        super().__init__(root)
        self.hang = threading.Event()
        self.never = threading.Event()

    def replace(self, name, gen, data):
        if self.hang.is_set():
            self.never.wait()
        super().replace(name, gen, data)


def test_a_hung_filesystem_stops_the_holder_instead_of_blocking(tmp_path):
    store = HangingStore(tmp_path)
    lease = Lease(store, "s0", purpose="x", ttl_s=0.6).acquire()
    store.hang.set()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            lease.ensure_held()
        except LeaseLost as e:
            assert "could not renew" in str(e)
            break
        time.sleep(0.05)
    else:
        pytest.fail("the holder kept writing although it could not renew its lease")
    t0 = time.monotonic()
    lease.release()  # the heartbeat thread is stuck in the store: release must not wait for it
    assert time.monotonic() - t0 < 10
