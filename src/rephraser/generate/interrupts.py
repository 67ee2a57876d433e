"""Stopping a run on SIGINT or SIGTERM.

The first signal asks the run to stop: finished work is committed and the runner raises `Interrupted`
(a one-line error saying how to resume). When stopping takes long (a model finishing its batch), a
second signal ends the process at once; commits are atomic, so nothing committed is lost.

How the process ends is the application's decision, not the library's: the CLI installs its way
(`on_second_signal`, commands/_interrupt.py: exit code 130 at once), as it configures logging. A program
that installs nothing gets `InterruptedAgain`, a KeyboardInterrupt, raised out of its event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable

from rephraser.errors import RephraserError

SecondSignal = Callable[[str], None]  # called with the signal's name; normally does not return
_second_signal: SecondSignal | None = None


class Interrupted(RephraserError):
    """The run stopped on a signal after committing its finished work."""


class InterruptedAgain(KeyboardInterrupt):
    """A second signal arrived while the run was stopping, and the application installed no exit for it."""


def on_second_signal(handler: SecondSignal | None) -> SecondSignal | None:
    """Install how a second signal ends the process (None: raise InterruptedAgain); returns the previous."""
    global _second_signal
    previous, _second_signal = _second_signal, handler
    return previous


def second_signal(signame: str) -> None:
    if _second_signal is not None:
        _second_signal(signame)
        return
    raise InterruptedAgain(f"{signame} again while stopping")


def interruption(signame: str) -> Interrupted:
    return Interrupted(f"interrupted by {signame}; finished work is committed — rerun the same command to resume "
                       "(press Ctrl-C again to exit at once)")


def watch_signals(stop: Callable[[Interrupted], bool]) -> None:
    """Handle SIGINT and SIGTERM on the running loop until it closes. `stop(interrupted)` asks the run to
    stop and says whether it now stops for that signal (False: it was already stopping for another reason,
    which the signal does not replace); any signal after one it stopped for is a `second_signal`. The
    handlers stay while the run cleans up: that is when a second signal is needed."""
    loop = asyncio.get_running_loop()
    stopping = False

    def handle(signame: str) -> None:
        nonlocal stopping
        if stopping:
            second_signal(signame)
            return
        stopping = stop(interruption(signame))

    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):  # not the main thread / Windows
            loop.add_signal_handler(sig, handle, sig.name)
