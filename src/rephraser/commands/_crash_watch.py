"""Turn a crash in native code (llama.cpp, torch, llguidance) into one line instead of a dead shell.

A segfault cannot be handled inside the process it kills, and a supervisor parent would change which
pid a user (or Slurm, or a test) signals, stops and kills. So the CLI forks a tiny watcher instead: the
main process keeps its pid and does the work; faulthandler writes the Python stacks of a fatal signal
(SIGSEGV, SIGILL, SIGBUS, SIGFPE, SIGABRT) into a private file; the watcher waits for the main process to
end (a pipe closes) and, only if that file holds a fatal error, prints one line naming the signal, what
was running (the embedded engine notes its model and build), the likely cause and the remedy.
Cost: one forked process asleep on a pipe; no effect on throughput. kill -9 and Ctrl-C print nothing here.
"""

from __future__ import annotations

import faulthandler
import os
import re
import signal
import sys
import tempfile
from pathlib import Path

NOTE_ENV = "REPHRASER_CRASH_NOTE"  # engines append what they are (model, build) to this file

SIGNAL_WORDS = {
    "Segmentation fault": "SIGSEGV", "Illegal instruction": "SIGILL", "Bus error": "SIGBUS",
    "Floating point exception": "SIGFPE", "Aborted": "SIGABRT",
}


def install() -> None:
    """Start the watcher; a no-op where another fatal-signal handler is already in place (pytest,
    python -X faulthandler), where fork is missing, or with REPHRASER_CRASH_WATCH=0."""
    if os.environ.get("REPHRASER_CRASH_WATCH") == "0" or faulthandler.is_enabled() or not hasattr(os, "fork"):
        return
    folder = tempfile.mkdtemp(prefix="rephraser-crash-")
    trace_path, note_path = os.path.join(folder, "trace"), os.path.join(folder, "note")
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the watcher
        os.close(write_end)
        _watch(read_end, Path(trace_path), Path(note_path), Path(folder))
        os._exit(0)
    os.close(read_end)  # the main process keeps write_end open until it ends, whatever way it ends
    os.set_inheritable(write_end, False)
    os.environ[NOTE_ENV] = note_path
    trace = open(trace_path, "w")  # noqa: SIM115 - must stay open for the life of the process
    faulthandler.enable(file=trace, all_threads=True)


def _watch(fd: int, trace: Path, note: Path, folder: Path) -> None:
    # Ctrl-C and scancel reach the whole process group: the watcher outlives them to read the end.
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    try:
        while os.read(fd, 1):
            pass
    except OSError:
        pass
    try:
        text = trace.read_text(errors="replace") if trace.is_file() else ""
        notes = note.read_text(errors="replace") if note.is_file() else ""
        line = explain(text, notes)
        if line:
            print(line, file=sys.stderr, flush=True)
    finally:
        for p in (trace, note):
            p.unlink(missing_ok=True)
        folder.rmdir()


def explain(trace: str, notes: str) -> str | None:
    """The one line for a faulthandler dump (None when the process did not die of a fatal signal)."""
    m = re.search(r"Fatal Python error: ([A-Za-z ]+)", trace)
    if not m:
        return None
    what = m.group(1).strip()
    sig = SIGNAL_WORDS.get(what, what)
    in_engine = "llamacpp" in trace or "llama_cpp" in trace
    engine_note = notes.strip().splitlines()[-1] if notes.strip() else ""
    where = f"in the embedded llama.cpp engine ({engine_note})" if in_engine and engine_note else (
        "in the embedded llama.cpp engine" if in_engine else "in native code")
    if sig == "SIGILL":
        cause = ("the llama.cpp library uses instructions this CPU lacks (a wheel built on another machine?); "
                 "rebuild it here: make install")
    elif in_engine and sig == "SIGSEGV":
        cause = ("check the build with `rephraser doctor` (an AMX build on an AMX CPU crashes like this: "
                 "make install rebuilds without AMX)")
    else:
        cause = "run `rephraser doctor` and include its output in a bug report"
    return (f"error: rephraser died from {sig} {where}. Committed output is kept and the same command "
            f"resumes. Likely fix: {cause}.")
