"""The request cache saves money but never decides a document's fate: when it fails it turns itself off."""

from __future__ import annotations

import asyncio

from rephraser.config import RetryConfig
from rephraser.engines.base import Completion, Sampling
from rephraser.generate.cache import RequestCache
from rephraser.generate.calls import AttemptBudget, Caller


class EchoEngine:
    calls = 0

    async def generate(self, request):
        self.calls += 1
        return Completion(text="out", finish_reason="stop", prompt_tokens=3, completion_tokens=1)


def test_cache_replays_and_survives_a_failing_database(tmp_path, capsys):
    cache = RequestCache(tmp_path / "c.sqlite")
    engine = EchoEngine()
    caller = Caller(engine, cache, "m", RetryConfig())

    def call(text: str):
        msgs = ({"role": "user", "content": text},)
        return asyncio.run(caller.call(msgs, Sampling(), prompt_hash="h", continuation=False,
                                       budget=AttemptBudget(2)))

    assert call("a")[0].text == "out" and call("a")[0].text == "out"
    assert engine.calls == 1  # the second call was replayed
    cache.db.close()  # from now on every query fails, as with a full or vanished disk
    assert call("b")[0].text == "out" and call("c")[0].text == "out"  # no dead letter, no exception
    err = capsys.readouterr().err
    assert err.count("warning: request cache") == 1 and cache.disabled


def test_cache_that_cannot_be_opened_is_off_with_one_warning(tmp_path, capsys):
    (tmp_path / "cache").write_text("a file where the cache folder should be")
    cache = RequestCache(tmp_path / "cache" / "s.sqlite")
    assert cache.get("k") is None
    cache.put("k", Completion(text="x", finish_reason="stop", prompt_tokens=1, completion_tokens=1), 1)
    cache.close()
    assert capsys.readouterr().err.count("warning:") == 1
