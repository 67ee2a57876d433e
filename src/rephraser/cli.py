"""The `rephraser` command line: a thin typer app.

Each command lives in `rephraser/commands/<name>.py` and exposes `register(app)`; this file only
discovers them and turns errors into one-line messages (never a traceback unless REPHRASER_DEBUG=1).
Command modules must import heavy libraries (torch, llama_cpp, vllm) inside their functions so that
`rephraser --help` stays instant.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys

import typer

from rephraser import commands
from rephraser.commands import _crash_watch
from rephraser.errors import RephraserError

app = typer.Typer(
    name="rephraser",
    help="Rephrase documents into synthetic pretraining data, mix it, and measure whether it helps.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_commands() -> None:
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"rephraser.commands.{info.name}")
        module.register(app)


_register_commands()


def main() -> None:
    debug = os.environ.get("REPHRASER_DEBUG") == "1"
    _crash_watch.install()  # a segfault in llama.cpp/torch ends with one line, not a dead shell
    try:
        rc = app(standalone_mode=False)  # typer.Exit(n) comes back as a return value here
        if isinstance(rc, int) and rc:
            sys.exit(rc)
    except RephraserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(getattr(e, "exit_code", 2))  # 2; 75 (EX_TEMPFAIL) when the folder is busy: retry later
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as e:  # noqa: BLE001 - the last line of defence against raw tracebacks
        # By class name: typer may bring its own copy of click, whose classes are not click's.
        kinds = {c.__name__ for c in type(e).__mro__}
        if "Exit" in kinds:
            sys.exit(getattr(e, "exit_code", 0))
        if "ClickException" in kinds:  # usage errors (unknown option, bad value): click's own message
            e.show()  # type: ignore[attr-defined]
            sys.exit(e.exit_code)  # type: ignore[attr-defined]
        if "Abort" in kinds:
            print("aborted", file=sys.stderr)
            sys.exit(1)
        if debug:
            raise
        msg = str(e).splitlines()[0] if str(e) else ""
        print(f"internal error: {type(e).__name__}: {msg} (set REPHRASER_DEBUG=1 for a traceback)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
