"""ManagedServer: starts a real process, restarts it after kill -9, gives clear errors otherwise."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from rephraser.config import OpenAIConfig, ServerConfig
from rephraser.engines.base import FatalEngineError, GenerationRequest, Sampling, TransientEngineError
from rephraser.engines.openai_http import OpenAIEngine
from rephraser.engines.server import ManagedServer

FAKE = str(Path(__file__).resolve().parents[1] / "fakes" / "openai_server.py")
REQ = GenerationRequest(messages=({"role": "user", "content": "Document: alpha beta"},), sampling=Sampling(max_tokens=16))


def fake_cmd(*extra: str) -> list[str]:
    return [sys.executable, FAKE, "--port", "{port}", *extra]


async def generate_retrying(engine: OpenAIEngine, seconds: float = 20.0):
    """What the runner does: retry transient errors for a while."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return await engine.generate(REQ)
        except TransientEngineError:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


def test_engine_recovers_after_server_is_killed():
    async def scenario():
        cfg = OpenAIConfig(model="m", server=ServerConfig(command=fake_cmd(), ready_timeout_s=20))
        engine = OpenAIEngine(cfg)
        await engine.start()
        server = engine._server
        assert server is not None
        server.watch_interval_s = 0.1
        try:
            first = await engine.generate(REQ)
            old_pid = server.proc.pid
            os.kill(old_pid, signal.SIGKILL)
            second = await generate_retrying(engine)
            return first, second, old_pid, server.proc.pid, server.restarts
        finally:
            await engine.stop()

    first, second, old_pid, new_pid, restarts = asyncio.run(scenario())
    assert first.text == second.text == "Q: What is this about?\nA: alpha beta"
    assert new_pid != old_pid and restarts == 1


def test_gives_up_after_max_restarts():
    async def scenario():
        server = ManagedServer(ServerConfig(command=fake_cmd(), max_restarts=0, ready_timeout_s=20),
                               watch_interval_s=0.1)
        await server.start()
        try:
            os.kill(server.proc.pid, signal.SIGKILL)
            server.proc.wait(timeout=10)
            await asyncio.wait_for(server.wait_ready(), timeout=10)
        finally:
            await server.stop()

    with pytest.raises(FatalEngineError, match="gave up after 0 restarts"):
        asyncio.run(scenario())


def test_missing_command_is_one_clear_error():
    server = ManagedServer(ServerConfig(command=["/nonexistent/llama-server", "--port", "{port}"]))
    with pytest.raises(FatalEngineError, match="command not found: /nonexistent/llama-server"):
        asyncio.run(server.start())


def test_command_that_exits_quotes_its_last_line():
    code = "import sys; print('loading...'); print('error: unknown flag --bogus', file=sys.stderr); sys.exit(3)"
    server = ManagedServer(ServerConfig(command=[sys.executable, "-c", code]))
    with pytest.raises(FatalEngineError, match=r"exited with code 3 .*unknown flag --bogus"):
        asyncio.run(server.start())


def test_not_ready_in_time_is_reported_and_killed():
    async def scenario():
        server = ManagedServer(ServerConfig(command=[sys.executable, "-c", "import time; time.sleep(60)"],
                                            ready_timeout_s=0.5))
        try:
            await server.start()
        finally:
            assert server.proc is None  # killed, not leaked
            await server.stop()

    with pytest.raises(FatalEngineError, match="not ready after 0.5s"):
        asyncio.run(scenario())


def test_port_is_substituted_and_stop_kills_the_group():
    async def scenario():
        server = ManagedServer(ServerConfig(command=fake_cmd("--model", "x")))
        url = await server.start()
        pid = server.proc.pid
        await server.stop()
        return url, server.port, pid

    url, port, pid = asyncio.run(scenario())
    assert url.endswith(f":{port}")
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
