"""One writer per mixture or token folder: a second `mix` / `tokenize` into a folder another live process
is writing is refused (exit 75, holder named) and deletes nothing; a dead holder's lease is taken over."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from helpers import cli, lease_holder
from rephraser.writer_leases import FOLDER_LEASE

HOLD = """
import sys, time
from rephraser.writer_leases import sole_writer
with sole_writer(sys.argv[1], "a test holder"):
    print("held", flush=True)
    time.sleep(600)
"""


def _holding(folder: Path) -> subprocess.Popen:
    """Another process holding the folder's lease, as a second mix/tokenize would."""
    p = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "held"
    return p


def _tree(folder: Path) -> dict[str, int]:
    return {f.relative_to(folder).as_posix(): f.stat().st_size for f in folder.rglob("*")
            if f.is_file() and "leases" not in f.parts}


def test_a_second_mix_or_tokenize_is_refused_and_a_dead_holder_taken_over(tmp_path, run_table):
    mix = tmp_path / "mix"
    mix_args = ("mix", "-c", f"{run_table}:1", "--tokens", "2000", "-o", str(mix))
    cli(*mix_args)
    toks = tmp_path / "toks"
    tok_args = ("tokenize", str(mix), "-o", str(toks), "--vocab-size", "300", "--heldout", "0")
    cli(*tok_args)
    before = {mix: _tree(mix), toks: _tree(toks)}
    for folder, args in ((mix, (*mix_args, "--overwrite")), (toks, tok_args)):
        holder = _holding(folder)
        try:
            p = cli(*args, check=False, timeout=300)
            assert p.returncode == 75, p.stderr
            msg = p.stderr.strip()
            assert "\n" not in msg and "held by another writer" in msg and f"pid {holder.pid}" in msg
            assert "a test holder" in msg
            assert _tree(folder) == before[folder]  # nothing deleted or rewritten
        finally:
            holder.kill()
            holder.wait()
        assert lease_holder(folder, FOLDER_LEASE).pid == holder.pid  # left behind by the kill
        cli(*args, timeout=300)  # a dead holder on this machine: taken over at once
        assert lease_holder(folder, FOLDER_LEASE).released
    assert json.loads((mix / "manifest.json").read_text())["achieved_tokens"] > 0
    assert json.loads((toks / "meta.json").read_text())["splits"]["train"]["tokens"] > 0

