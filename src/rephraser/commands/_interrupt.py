"""How `rephraser` ends when a second Ctrl-C (or SIGTERM) arrives while a run is stopping: at once, with
exit code 130, skipping the slow clean-up (a model finishing its batch). Nothing committed is lost: every
commit is atomic, and the work since the last one is redone on resume (generate/interrupts.py)."""

from __future__ import annotations

import os
import sys

from rephraser.generate import interrupts

EXIT_CODE = 130  # 128 + SIGINT, what a shell reports for a process ended by Ctrl-C


def exit_at_once(signame: str) -> None:
    print(f"\n{signame} again: exiting at once; work since the last commit is redone on resume",
          file=sys.stderr, flush=True)
    os._exit(EXIT_CODE)  # not sys.exit: the clean-up this skips is what the user is waiting on


def install() -> None:
    interrupts.on_second_signal(exit_at_once)
