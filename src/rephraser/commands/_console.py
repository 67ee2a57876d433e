"""The console every command prints through: the terminal's own width on a terminal, a plain form when piped.

On a terminal rich follows the window (and $COLUMNS). Piped into a file, a pager or another program there is
no width to follow, so output is not cut to one: colour is off and lines are as long as their content
(tables sized to their cells, nothing folded at an arbitrary 80, 160 or 200 columns). Set $COLUMNS to wrap
piped output at a width of your choice. (Not a command: cli.py skips modules starting with `_`.)
"""

from __future__ import annotations

import os

from rich.console import Console

PIPE_WIDTH = 100_000  # "no width": wider than any line a command prints


def console(*, stderr: bool = False) -> Console:
    probe = Console(stderr=stderr)
    if probe.is_terminal or os.environ.get("COLUMNS"):
        return probe
    return Console(stderr=stderr, width=PIPE_WIDTH, no_color=True, highlight=False, emoji=False)


def is_plain(c: Console) -> bool:
    """True for the piped form (commands that draw panels print plain blocks instead)."""
    return c.width >= PIPE_WIDTH
