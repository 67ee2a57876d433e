"""Single-writer leases kept on S3 (conditional PUTs through s3fs, moto on loopback).

Sequential semantics only: moto checks If-None-Match and stores the object in two steps without a
lock, so simultaneous creates on moto cannot prove the server-side atomicity real S3 documents.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from rephraser.lease import Lease, LeaseHeld, current_holder
from rephraser.storage import as_location
from rephraser.storage.conditional import (
    ObjectLeaseStore,
    atomic_create_supported,
    create_exclusive,
    lease_store,
)


def test_create_exclusive_is_a_conditional_put(s3):
    url = as_location(f"{s3}/locks/a.json")
    assert create_exclusive(url, b"first")
    assert not create_exclusive(url, b"second")
    store = ObjectLeaseStore(as_location(s3))
    assert store.read("locks", 0) is None
    assert atomic_create_supported(s3) and not atomic_create_supported("gs://b/x")


def test_object_lease_store_contract(s3):
    store = lease_store(f"{s3}/out/.lease")
    assert isinstance(store, ObjectLeaseStore) and store.generations("s0") == []
    assert store.create("s0", 1, b"one") and not store.create("s0", 1, b"again")
    assert store.create("s0", 3, b"three")
    assert store.generations("s0") == [1, 3] and store.read("s0", 1) == b"one"
    store.replace("s0", 1, b"renewed")
    assert store.read("s0", 1) == b"renewed"
    store.delete("s0", 1)
    store.delete("s0", 1)
    assert store.generations("s0") == [3] and store.where("s0") == f"{s3}/out/.lease/s0"


def test_lease_on_s3_refuses_a_second_writer_and_takes_over_a_dead_one(s3):
    store = lease_store(f"{s3}/out/.lease")
    with Lease(store, "s0", purpose="rephraser run").acquire(), \
            pytest.raises(LeaseHeld, match=rf"{s3}/out/.lease/s0 is held by another writer"):
        Lease(store, "s0", purpose="second").acquire()
    assert current_holder(store, "s0") is None
    # a holder killed without releasing (same machine: its pid is gone) is taken over at once
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    from dataclasses import replace

    ghost = Lease(store, "s0", purpose="killed")
    assert store.create("s0", 2, replace(ghost.me, pid=dead.pid, pid_start=None).to_bytes())
    lease = Lease(store, "s0", purpose="requeued").acquire()
    assert lease.gen == 3 and store.generations("s0") == [3]
    lease.release()
