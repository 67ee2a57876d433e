"""A shard's run is set up once (generate/shard.py): the CLI parses --output into a location once and the
runner carries it; the destination is checked once, --overwrite's foreign-folder refusal too; whatever
fails while setting up, every resource opened so far is closed, once."""

from __future__ import annotations

import pytest

from helpers import fake_run_args, run_cli, write_corpus
from rephraser import run_identity, storage
from rephraser.config import RunConfig
from rephraser.engines.base import Capabilities, Completion, GenerationRequest
from rephraser.errors import ConfigError, RephraserError
from rephraser.generate import interrupts
from rephraser.generate.cache import RequestCache
from rephraser.generate.runner import run_config


def test_the_output_is_parsed_and_checked_once(tmp_path, monkeypatch, capsys, fake_server):
    url = fake_server()
    corpus = write_corpus(tmp_path / "in.jsonl", 3)
    out = str(tmp_path / "out")
    monkeypatch.setattr(interrupts, "_second_signal", None)  # the CLI installs its exit: undone after the test
    parsed, writable, foreign = [], [], []
    real_parse, real_writable, real_foreign = storage.as_location, storage.check_writable, run_identity.refuse_foreign_folder
    monkeypatch.setattr(storage, "as_location", lambda p: (parsed.append(p) if p == out else None) or real_parse(p))
    monkeypatch.setattr(storage, "check_writable", lambda p: writable.append(p) or real_writable(p))
    monkeypatch.setattr(run_identity, "refuse_foreign_folder", lambda p: foreign.append(p) or real_foreign(p))
    for extra in ((), ("--overwrite",)):
        parsed.clear(), writable.clear(), foreign.clear()
        code, _, err = run_cli(monkeypatch, capsys, *fake_run_args(url, corpus, tmp_path / "out", *extra))
        assert code == 0, err
        assert parsed == [out]  # by the command, once; every later step is handed the location
        assert [str(p) for p in writable] == [out]
        assert [str(p) for p in foreign] == ([out] if extra else [])


class SmallContextEngine:
    """An engine double whose context is too small for the prompt: the runner refuses after starting it."""

    def __init__(self) -> None:
        self.started = self.stopped = 0

    async def start(self) -> None:
        self.started += 1

    async def stop(self) -> None:
        self.stopped += 1

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(model_id="small", engine="openai", max_context=96, batch_slots=1,
                            count_tokens=lambda text: len(text.split()))

    async def generate(self, request: GenerationRequest) -> Completion:  # never reached
        raise AssertionError("no document should be sent")


@pytest.mark.parametrize("fails_at", ["engine start", "input budget"])
def test_what_opened_before_a_failed_setup_is_closed_once(tmp_path, monkeypatch, fails_at):
    engine = SmallContextEngine()
    closed: list[str] = []
    real_close = RequestCache.close
    monkeypatch.setattr(RequestCache, "close", lambda self: closed.append("cache") or real_close(self))
    if fails_at == "engine start":
        async def broken_start() -> None:
            engine.started += 1
            raise RephraserError("model file is unreadable")
        monkeypatch.setattr(engine, "start", broken_start)
    cfg = RunConfig.model_validate({
        "source": {"path": str(write_corpus(tmp_path / "in.jsonl", 2))}, "prompts": ["faq"],
        "engine": {"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "small"},
        "sampling": {"max_tokens": 80}, "output": {"dir": str(tmp_path / "out")}})
    with pytest.raises(ConfigError if fails_at == "input budget" else RephraserError) as e:
        run_config(cfg, progress=False, engine=engine)
    assert engine.started == 1 and engine.stopped == 1
    assert closed == ([] if fails_at == "engine start" else ["cache"])  # the cache opens after the engine
    if fails_at == "input budget":
        assert "leaves" in str(e.value) and "for the document" in str(e.value)
    # the lease was released too: the same shard starts again at once (a held lease would refuse it)
    with pytest.raises(ConfigError, match="for the document"):
        run_config(cfg, progress=False, engine=SmallContextEngine())
