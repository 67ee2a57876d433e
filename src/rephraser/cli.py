"""The `rephraser` command line: a thin typer app.

Each command lives in `rephraser/commands/<name>.py` and exposes `register(app)`; this file only
discovers them and turns errors into one-line messages (never a traceback unless REPHRASER_DEBUG=1).
Command modules must import heavy libraries (torch, llama_cpp, vllm) inside their functions so that
`rephraser --help` stays instant.
"""

from __future__ import annotations

import difflib
import importlib
import os
import pkgutil
import sys

import typer

from rephraser import commands, logs
from rephraser.commands import _crash_watch, _interrupt
from rephraser.errors import RephraserError
from rephraser.redact import register_env, scrub

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


def usage_line(e: Exception) -> str:
    """A click usage error as one line: the command, what is wrong, the nearest option, where help is."""
    ctx, names = getattr(e, "ctx", None), []
    while ctx is not None and ctx.parent is not None:  # the root's name depends on how it was started
        names.insert(0, ctx.info_name)
        ctx = ctx.parent
    command = " ".join(["rephraser", *names])
    name, possible = getattr(e, "option_name", None), sorted(getattr(e, "possibilities", None) or [])
    if name and possible is not None and type(e).__name__ == "NoSuchOption":
        near = difflib.get_close_matches(name, possible, n=1, cutoff=0.5)
        hint = f"did you mean {near[0]}?; " if near else ""
        return f"{command}: no such option {name} ({hint}{command} --help lists them)"
    message = " ".join(e.format_message().split())  # type: ignore[attr-defined]
    return f"{command}: {message} (see {command} --help)"


INTERRUPTED = "interrupted; finished work is kept — rerun the same command to resume"


def main() -> None:
    debug = os.environ.get("REPHRASER_DEBUG") == "1"
    register_env()  # credentials in the environment are scrubbed from every line printed
    logs.configure()  # the library's log lines reach stderr (rank 0 only for INFO under torchrun)
    _crash_watch.install()  # a segfault in llama.cpp/torch ends with one line, not a dead shell
    _interrupt.install()  # a second Ctrl-C while a run stops ends the process at once (exit 130)
    try:
        rc = app(standalone_mode=False)  # typer.Exit(n) comes back as a return value here
        if isinstance(rc, int) and rc:
            if rc == 130:  # typer turns Ctrl-C (KeyboardInterrupt) into a silent exit code 130
                print(INTERRUPTED, file=sys.stderr)
            sys.exit(rc)
    except RephraserError as e:
        print(f"error: {scrub(str(e))}", file=sys.stderr)
        if e.detail and sys.stderr.isatty():  # e.g. the YAML line with a caret; logs keep the one line
            print(scrub(e.detail), file=sys.stderr)
        sys.exit(getattr(e, "exit_code", 2))  # 2; 75 (EX_TEMPFAIL) when the folder is busy: retry later
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        sys.exit(130)
    except SystemExit:
        raise
    except Exception as e:  # noqa: BLE001 - the last line of defence against raw tracebacks
        # By class name: typer may bring its own copy of click, whose classes are not click's.
        kinds = {c.__name__ for c in type(e).__mro__}
        if "Exit" in kinds:
            sys.exit(getattr(e, "exit_code", 0))
        if "UsageError" in kinds:  # unknown option or command, bad value: one line, not click's usage block
            print(f"error: {usage_line(e)}", file=sys.stderr)
            sys.exit(e.exit_code)  # type: ignore[attr-defined]
        if "ClickException" in kinds:
            e.show()  # type: ignore[attr-defined]
            sys.exit(e.exit_code)  # type: ignore[attr-defined]
        if "Abort" in kinds:
            print("aborted", file=sys.stderr)
            sys.exit(1)
        if debug:
            raise
        msg = scrub(str(e).splitlines()[0]) if str(e) else ""
        print(f"internal error: {type(e).__name__}: {msg} (set REPHRASER_DEBUG=1 for a traceback)", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
