"""Single-writer leases: at most one live writer per output folder and per shard.

A lease is a numbered sequence of small records ("generations") kept by a `LeaseStore`. The holder
is the creator of the highest generation, as long as that record is neither released nor stale:

- **acquire**: list the generations; if there are none, or the highest is released or stale, create
  the next number *exclusively*. Of several processes starting at once exactly one creation of a
  given number succeeds; the others re-read and see a live holder. After creating, the winner lists
  again and backs off if an even higher number exists (a starter that acted on an old listing).
- **heartbeat**: the holder rewrites its own record every `ttl_s / 6` from a daemon thread. Only the
  holder ever writes its generation, so no compare-and-swap is needed. If the thread cannot renew
  for `ttl_s / 2` (a hung or full filesystem), `ensure_held()` fails and the run stops committing, so
  a successor that waits out `ttl_s` never overlaps with it (clocks must agree within `ttl_s / 2`).
  The thread is a daemon: a hung filesystem never blocks the process's exit.
- **stale**: a record whose holder ran on this machine (same host, boot and pid namespace) is stale
  as soon as its process is gone (so a `kill -9`ed writer is taken over at once); from another
  machine, when its heartbeat is older than `ttl_s` by our clock, or did not change while we
  watched for `ttl_s` (robust to skewed clocks).
- **release**: the holder rewrites its record with `released: true` (kept, so numbers only grow).

Backend contract (`LeaseStore`), five operations on records addressed by (name, generation):
  `generations(name)`          every generation present (a strongly consistent listing)
  `create(name, gen, data)`    create the record only if absent; True if this call created it. The
                               record must appear complete (never a partial body) to readers.
  `read(name, gen)`            its bytes, or None if absent
  `replace(name, gen, data)`   overwrite atomically (readers see old or new bytes, never a mix)
  `delete(name, gen)`          remove it; absent is fine
POSIX (`PosixLeaseStore`, local disks and shared POSIX filesystems): create = `atomic.atomic_create`
(a synced temp `link()`ed to the final name: fails if the name exists, NFS-safe); replace =
`atomic.atomic_write_bytes` (temp + `rename()`). Object stores: create = PUT with `If-None-Match: *`, replace = PUT (optionally
`If-Match` the holder's last ETag), generations = LIST of the name's prefix.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import socket
import threading
import time
import uuid
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Protocol

from rephraser.atomic import atomic_create, atomic_write_bytes
from rephraser.errors import RephraserError

LEASE_TTL_S = 60.0
LEASE_EXIT_CODE = 75  # EX_TEMPFAIL: the folder is busy; a job script may retry the same command later


class LeaseHeld(RephraserError):
    """Another live process holds the lease; retrying later is the remedy (exit code 75)."""

    exit_code = LEASE_EXIT_CODE


class LeaseLost(RephraserError):
    """This process no longer holds its lease (taken over, or it could not be renewed in time)."""

    exit_code = LEASE_EXIT_CODE


class LeaseStore(Protocol):
    def where(self, name: str) -> str: ...
    def generations(self, name: str) -> list[int]: ...
    def create(self, name: str, gen: int, data: bytes) -> bool: ...
    def read(self, name: str, gen: int) -> bytes | None: ...
    def replace(self, name: str, gen: int, data: bytes) -> None: ...
    def delete(self, name: str, gen: int) -> None: ...


class PosixLeaseStore:
    """Records are files `<root>/<name>/<generation>.json`."""

    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)

    def where(self, name: str) -> str:
        return str(self.root / name)

    def _path(self, name: str, gen: int) -> Path:
        return self.root / name / f"{gen:010d}.json"

    def generations(self, name: str) -> list[int]:
        try:
            names = os.listdir(self.root / name)
        except FileNotFoundError:
            return []
        return sorted(int(n[:-5]) for n in names if n.endswith(".json") and n[:-5].isdigit())

    def create(self, name: str, gen: int, data: bytes) -> bool:
        return atomic_create(self._path(name, gen), data)

    def read(self, name: str, gen: int) -> bytes | None:
        try:
            return self._path(name, gen).read_bytes()
        except FileNotFoundError:
            return None

    def replace(self, name: str, gen: int, data: bytes) -> None:
        # no folder fsync: a renewal lost to a power cut only leaves an older heartbeat behind
        atomic_write_bytes(self._path(name, gen), data, sync_dir=False)

    def delete(self, name: str, gen: int) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(name, gen).unlink()


# ---- who holds it ------------------------------------------------------------------------------
def _read_first_line(path: str) -> str:
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            return f.readline().strip()
    except OSError:
        return ""


def machine_id() -> str:
    """Host + boot + pid namespace: processes that share it can check each other's pids."""
    ns = ""
    with contextlib.suppress(OSError):
        ns = os.readlink("/proc/self/ns/pid")
    return f"{socket.gethostname()}|{_read_first_line('/proc/sys/kernel/random/boot_id')}|{ns}"


def process_start(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (tells a reused pid apart), None if unknown;
    "" when the process is a zombie (dead, not yet reaped)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] in (b"Z", b"X"):
        return ""
    return fields[19].decode()


def process_alive(pid: int, start: str | None) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    now_start = process_start(pid)
    if now_start == "":
        return False
    return start is None or now_start is None or now_start == start


@dataclass(frozen=True)
class Holder:
    token: str
    host: str
    pid: int
    machine: str
    pid_start: str | None
    started: float  # wall clock (epoch seconds)
    heartbeat: float  # wall clock of the last renewal
    ttl_s: float
    purpose: str
    released: bool = False

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Holder | None:
        try:
            d = json.loads(data)
            return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})
        except (ValueError, TypeError, KeyError):
            return None

    def describe(self) -> str:
        started = datetime.fromtimestamp(self.started, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
        ago = max(0.0, time.time() - self.heartbeat)
        return f"host {self.host} pid {self.pid} ({self.purpose}; started {started}, heartbeat {ago:.0f} s ago)"


def _new_holder(purpose: str, ttl_s: float) -> Holder:
    now = time.time()
    pid = os.getpid()
    return Holder(token=uuid.uuid4().hex, host=socket.gethostname(), pid=pid, machine=machine_id(),
                  pid_start=process_start(pid), started=now, heartbeat=now, ttl_s=ttl_s, purpose=purpose)


# ---- the lease ---------------------------------------------------------------------------------
class Lease:
    """`with Lease(store, "s00000-of-00001", purpose=...).acquire(wait_s=0):` ... `lease.ensure_held()`."""

    def __init__(self, store: LeaseStore, name: str, *, purpose: str, ttl_s: float = LEASE_TTL_S,
                 what: str | None = None, min_gen: int = 1):
        self.store = store
        self.name = name
        self.what = what or store.where(name)
        self.ttl_s = ttl_s
        self.min_gen = min_gen  # generations are epochs elsewhere (manifests.py): never below one already used
        self.me = _new_holder(purpose, ttl_s)
        self.gen: int | None = None
        self.lost: str | None = None
        self.last_renewed = time.monotonic()
        self.last_error: BaseException | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seen: dict[tuple[int, float], float] = {}  # (gen, heartbeat) -> when we first saw it

    # -- acquire ------------------------------------------------------------------------------
    def acquire(self, wait_s: float = 0.0) -> Lease:
        deadline = time.monotonic() + max(0.0, wait_s)
        me = self.me.machine
        while True:
            gens = self.store.generations(self.name)
            target = self.min_gen
            if gens:
                top = gens[-1]
                raw = self.store.read(self.name, top)
                if raw is None:
                    continue  # cleaned up by a new holder between our listing and reading: look again
                holder = Holder.from_bytes(raw)
                if holder is not None and not holder.released and not self._stale(top, holder, me):
                    if time.monotonic() >= deadline:
                        raise LeaseHeld(f"{self.what} is held by another writer: {holder.describe()}; only one "
                                        "process may write it — wait for that one to finish, or retry later (a lease "
                                        "left by a killed process is taken over at once on the same machine, after "
                                        f"{holder.ttl_s:.0f} s without heartbeat otherwise)")
                    time.sleep(min(2.0, max(0.05, deadline - time.monotonic()), 0.25 + random.random() * 0.5))
                    continue
                target = max(top + 1, self.min_gen)
            self.me = replace(self.me, heartbeat=time.time())
            if not self.store.create(self.name, target, self.me.to_bytes()):
                continue  # another starter created it first: judge the new holder
            if any(g > target for g in self.store.generations(self.name)):
                self.store.delete(self.name, target)  # we acted on an old listing; a newer holder exists
                continue
            self.gen = target
            self.last_renewed = time.monotonic()
            for g in gens:
                if g < target:
                    self.store.delete(self.name, g)
            self._thread = threading.Thread(target=self._heartbeat, name=f"lease-{self.name}", daemon=True)
            self._thread.start()
            return self

    def _stale(self, gen: int, h: Holder, machine: str) -> bool:
        if h.machine == machine:
            return not process_alive(h.pid, h.pid_start)
        if time.time() - h.heartbeat > h.ttl_s:
            return True
        first_seen = self._seen.setdefault((gen, h.heartbeat), time.monotonic())
        return time.monotonic() - first_seen > h.ttl_s  # unchanged for a whole ttl, whatever the clocks say

    # -- hold ---------------------------------------------------------------------------------
    def _heartbeat(self) -> None:
        while not self._stop.wait(self.ttl_s / 6):
            try:
                newer = [g for g in self.store.generations(self.name) if g > (self.gen or 0)]
                if newer:
                    raw = self.store.read(self.name, newer[-1])
                    h = Holder.from_bytes(raw) if raw else None
                    self.lost = f"taken over by {h.describe() if h else 'another writer'}"
                    return
                self.me = replace(self.me, heartbeat=time.time())
                self.store.replace(self.name, self.gen or 0, self.me.to_bytes())
                self.last_renewed = time.monotonic()
            except Exception as e:  # noqa: BLE001 - keep trying; ensure_held() turns a long failure into a stop
                self.last_error = e

    def ensure_held(self, *, check_store: bool = False) -> None:
        """Raise LeaseLost unless we still hold the lease. Without check_store this does no I/O."""
        if self.gen is None:
            raise LeaseLost(f"{self.what}: lease not acquired")
        if self.lost is None and time.monotonic() - self.last_renewed > self.ttl_s / 2:
            why = f" ({type(self.last_error).__name__}: {self.last_error})" if self.last_error else ""
            self.lost = f"could not renew it for {time.monotonic() - self.last_renewed:.0f} s{why}"
        if self.lost is None and check_store and any(g > self.gen for g in self.store.generations(self.name)):
            self.lost = "taken over by another writer"
        if self.lost:
            raise LeaseLost(f"lost the write lease on {self.what}: {self.lost}; stopped writing so that only one "
                            "process writes it — rerun the same command to resume")

    def release(self) -> None:
        if self.gen is None:
            return
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1)  # it may be stuck on a hung filesystem: never wait for it long
        if self.lost is None:
            with contextlib.suppress(OSError):
                self.store.replace(self.name, self.gen, replace(self.me, released=True).to_bytes())
        self.gen = None

    def __enter__(self) -> Lease:
        if self.gen is None:
            self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def current_holder(store: LeaseStore, name: str) -> Holder | None:
    """The live holder of `name`, or None when it is free (released, stale or never taken)."""
    gens = store.generations(name)
    if not gens:
        return None
    raw = store.read(name, gens[-1])
    h = Holder.from_bytes(raw) if raw else None
    if h is None or h.released:
        return None
    if h.machine == machine_id():
        return h if process_alive(h.pid, h.pid_start) else None
    return None if time.time() - h.heartbeat > h.ttl_s else h
