"""Ctrl-C during a run: the first signal stops it after committing (the library raises `Interrupted`); a
second one, while stopping takes long, ends the process the way the application installed — the CLI's
way is exit code 130 at once — and the library itself never ends the process."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from helpers import run_cli
from rephraser.commands import _interrupt
from rephraser.generate import interrupts
from rephraser.generate.interrupts import Interrupted, InterruptedAgain, watch_signals


def _signal_twice(stop_result: bool = True) -> list[Interrupted]:
    """SIGINT twice to this process while a loop watches; returns what `stop` was asked."""
    asked: list[Interrupted] = []

    def stop(interrupted: Interrupted) -> bool:
        asked.append(interrupted)
        return stop_result

    async def main() -> None:
        watch_signals(stop)
        for _ in range(2):
            os.kill(os.getpid(), signal.SIGINT)
            await asyncio.sleep(0.3)

    asyncio.run(main())
    return asked


def test_the_second_signal_ends_the_process_the_applications_way(monkeypatch):
    seen: list[str] = []
    monkeypatch.setattr(interrupts, "_second_signal", seen.append)
    asked = _signal_twice()
    assert len(asked) == 1 and str(asked[0]).startswith("interrupted by SIGINT; finished work is committed")
    assert "Ctrl-C again" in str(asked[0]) and seen == ["SIGINT"]


def test_a_run_stopping_for_another_reason_is_not_interrupted_twice(monkeypatch):
    """The failure budget stopped it first: a signal does not replace that reason, nor count as a second one."""
    seen: list[str] = []
    monkeypatch.setattr(interrupts, "_second_signal", seen.append)
    assert len(_signal_twice(stop_result=False)) == 2 and seen == []


def test_without_an_installed_exit_the_second_signal_raises_out_of_the_loop(monkeypatch):
    monkeypatch.setattr(interrupts, "_second_signal", None)
    with pytest.raises(InterruptedAgain, match="SIGINT again"):
        _signal_twice()


def test_the_cli_installs_an_exit_130_at_once(monkeypatch, capsys):
    monkeypatch.setattr(interrupts, "_second_signal", None)
    code, _, _ = run_cli(monkeypatch, capsys, "run", "--help")
    assert code == 0 and interrupts._second_signal is _interrupt.exit_at_once
    exits: list[int] = []
    monkeypatch.setattr(_interrupt.os, "_exit", exits.append)
    _interrupt.exit_at_once("SIGINT")
    assert exits == [130]
    assert "SIGINT again: exiting at once; work since the last commit is redone on resume" in capsys.readouterr().err
