"""ManagedServer: start, watch and restart a local inference server process (llama-server, vllm, ...).

The process runs in its own process group (so stop() also ends its workers) with stdout+stderr in
a log file, whose last line is quoted when it fails. A background asyncio task polls the process
and its health endpoint; when it exits or stops answering it is restarted with exponential backoff
up to `max_restarts` times, after which the server is marked dead and callers get FatalEngineError.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import httpx

from rephraser.config import ServerConfig
from rephraser.engines.base import FatalEngineError

HOST = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def last_line(path: Path) -> str:
    try:
        data = path.read_bytes()[-4096:].decode("utf-8", errors="replace")
    except OSError:
        return ""
    lines = [ln.strip() for ln in data.splitlines() if ln.strip()]
    return lines[-1] if lines else ""


class ManagedServer:
    def __init__(self, cfg: ServerConfig, *, watch_interval_s: float = 1.0, health_timeout_s: float = 10.0,
                 failures_before_restart: int = 3, backoff_base_s: float = 0.5, backoff_max_s: float = 30.0):
        self.cfg = cfg
        self.port = cfg.port or free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.argv = [a.replace("{port}", str(self.port)) for a in cfg.command]
        self.watch_interval_s = watch_interval_s
        self.health_timeout_s = health_timeout_s
        self.failures_before_restart = failures_before_restart
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.restarts = 0
        self.dead: str | None = None  # why the server is given up on
        self.proc: subprocess.Popen | None = None
        self._log_dir = tempfile.TemporaryDirectory(prefix="rephraser-server-")
        self.log_path = Path(self._log_dir.name) / "server.log"
        self._ready = asyncio.Event()
        self._watch: asyncio.Task | None = None
        self._client = httpx.AsyncClient(timeout=health_timeout_s, trust_env=False)  # loopback: no proxies

    # ---- lifecycle --------------------------------------------------------------------------
    async def start(self) -> str:
        """Spawn and wait until healthy; returns the base URL. Failure => FatalEngineError."""
        await self._spawn_and_wait()
        self._watch = asyncio.create_task(self._watch_loop(), name="server-health-watch")
        return self.url

    async def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None
        await asyncio.to_thread(self._kill)
        await self._client.aclose()
        self._ready.clear()
        self._log_dir.cleanup()

    async def wait_ready(self) -> None:
        """Return when the server answers; raise FatalEngineError if it was given up on."""
        if self.proc is None or self.proc.poll() is not None:
            self._ready.clear()  # exited: don't send requests before the watch has restarted it
        while not self._ready.is_set():
            if self.dead:
                raise FatalEngineError(self.dead)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._ready.wait(), timeout=0.5)
        if self.dead:
            raise FatalEngineError(self.dead)

    # ---- process handling -------------------------------------------------------------------
    def _spawn(self) -> None:
        log = self.log_path.open("ab")
        try:
            self.proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                         start_new_session=True)  # own process group: stop() reaches workers
        except FileNotFoundError:
            raise FatalEngineError(f"cannot start server: command not found: {self.argv[0]}") from None
        except OSError as e:
            raise FatalEngineError(f"cannot start server {self.argv[0]}: {e.strerror or e}") from None
        finally:
            log.close()

    def _kill(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue

    async def _healthy(self) -> bool:
        for path in dict.fromkeys((self.cfg.health_path, "/v1/models")):
            try:
                r = await self._client.get(self.url + path)
            except httpx.HTTPError:
                return False
            if r.status_code == 200:
                return True
            if r.status_code != 404:  # e.g. 503 while loading: not ready yet
                return False
        return False

    async def _spawn_and_wait(self) -> None:
        self._spawn()
        deadline = time.monotonic() + self.cfg.ready_timeout_s
        delay = 0.05
        while True:
            assert self.proc is not None
            rc = self.proc.poll()
            if rc is not None:
                why = last_line(self.log_path) or "no output"
                self.proc = None
                raise FatalEngineError(f"server {self.argv[0]} exited with code {rc} before it was ready: {why}")
            if await self._healthy():
                self._ready.set()
                return
            if time.monotonic() > deadline:
                why = last_line(self.log_path) or "no output"
                await asyncio.to_thread(self._kill)
                raise FatalEngineError(
                    f"server {self.argv[0]} not ready after {self.cfg.ready_timeout_s:g}s on {self.url}: {why}")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def _watch_loop(self) -> None:
        failures = 0
        while True:
            await asyncio.sleep(self.watch_interval_s)
            exited = self.proc is None or self.proc.poll() is not None
            if not exited and await self._healthy():
                failures = 0
                continue
            failures += 1
            if not exited and failures < self.failures_before_restart:
                continue  # a busy server may miss one probe; don't restart it for that
            failures = 0
            await self._restart()
            if self.dead:
                return

    async def _restart(self) -> None:
        self._ready.clear()
        why = last_line(self.log_path)
        await asyncio.to_thread(self._kill)
        while not self.dead:
            if self.restarts >= self.cfg.max_restarts:
                self.dead = (f"server {self.argv[0]} gave up after {self.restarts} restarts"
                             + (f": {why}" if why else ""))
                return
            await asyncio.sleep(min(self.backoff_max_s, self.backoff_base_s * 2**self.restarts))
            self.restarts += 1
            try:
                await self._spawn_and_wait()
                return
            except FatalEngineError as e:
                why = str(e)
