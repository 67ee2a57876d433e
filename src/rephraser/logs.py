"""Library log lines: every module below the CLI reports through `get_logger(__name__)`, never print().

Where the lines go is the application's choice, not the library's: the CLI calls `configure()` once and
they reach stderr as one plain line each (INFO as written, `warning: …` and `error: …` for the levels
above), secrets scrubbed. A program that imports rephraser and configures nothing gets Python's default:
warnings and errors on stderr, INFO dropped.

Under torchrun every rank runs the same code, so every line would appear once per rank. As in nanotron,
only rank 0 logs INFO; the other ranks keep their warnings and errors, each line tagged `[rank N]`.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, Protocol

from rephraser.redact import scrub

ROOT = "rephraser"
_PREFIX = {logging.WARNING: "warning: ", logging.ERROR: "error: ", logging.CRITICAL: "error: "}


class _Printer(Protocol):
    """A rich Console, or anything else that prints a line (kept abstract: rich is not imported here)."""

    def print(self, *objects: Any, **kwargs: Any) -> None: ...


def get_logger(name: str) -> logging.Logger:
    """The logger of a module (`get_logger(__name__)`); every name sits under the `rephraser` tree."""
    return logging.getLogger(name if name == ROOT or name.startswith(ROOT + ".") else f"{ROOT}.{name}")


def process_rank() -> int:
    """This process's global rank under torchrun (RANK), 0 for a lone process."""
    try:
        return int(os.environ.get("RANK", "0"))
    except ValueError:
        return 0


class RankFilter(logging.Filter):
    """Rank 0 passes every line; the other ranks only WARNING and above."""

    def __init__(self, rank: int | None = None):
        super().__init__()
        self.rank = process_rank() if rank is None else rank

    def filter(self, record: logging.LogRecord) -> bool:
        return self.rank == 0 or record.levelno >= logging.WARNING


class LineFormatter(logging.Formatter):
    """One line as the user reads it: level prefix above INFO, rank tag off rank 0, secrets scrubbed."""

    def __init__(self, rank: int | None = None):
        super().__init__()
        self.rank = process_rank() if rank is None else rank

    def format(self, record: logging.LogRecord) -> str:
        text = _PREFIX.get(record.levelno, "") + record.getMessage()
        if record.exc_info and os.environ.get("REPHRASER_DEBUG") == "1":
            text += "\n" + self.formatException(record.exc_info)
        return scrub(f"[rank {self.rank}] {text}" if self.rank else text)


class UserHandler(logging.Handler):
    """Prints to the stderr of the moment (looked up per line, so a redirected or captured stderr, or a
    live progress display that wraps it, gets the line) or through the given console."""

    def __init__(self, console: _Printer | None = None):
        super().__init__()
        self.console = console

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
            if self.console is not None:
                self.console.print(text, markup=False, highlight=False, soft_wrap=True)
            else:
                print(text, file=sys.stderr, flush=True)
        except Exception:  # noqa: BLE001 - logging must never stop a run
            self.handleError(record)


def configure(console: _Printer | None = None, *, level: int = logging.INFO) -> logging.Handler:
    """Show the library's lines to the user (the CLI calls this once; calling again replaces the handler).
    `level`: the lowest level shown on rank 0 (a command printing machine-readable output may pass WARNING)."""
    logger = logging.getLogger(ROOT)
    for old in [h for h in logger.handlers if isinstance(h, UserHandler)]:
        logger.removeHandler(old)
    handler = UserHandler(console)
    handler.addFilter(RankFilter())
    handler.setFormatter(LineFormatter())
    logger.addHandler(handler)
    logger.setLevel(level)
    return handler
