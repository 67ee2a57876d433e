"""`rephraser stats` on a folder it may not write: the statistics are printed, stats_quality.json is
skipped with one warning (a real read-only mount when run as root, a read-only folder otherwise)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from helpers import cli, fake_run_args, write_corpus


def read_only_prefix(folder) -> list[str]:
    if os.geteuid() != 0:  # permissions bind everyone but root
        for p in [folder, *folder.rglob("*")]:
            if p.is_dir():
                p.chmod(0o555)
        return []
    probe = subprocess.run(["unshare", "--mount", "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("root, but no mount namespace for a read-only bind mount")
    script = f'mount --bind "{folder}" "{folder}" && mount -o remount,bind,ro "{folder}" && exec "$@"'
    return ["unshare", "--mount", "sh", "-c", script, "sh"]


def test_stats_on_a_read_only_folder_prints_with_one_warning(tmp_path, fake_server):
    url = fake_server()
    out = tmp_path / "out"
    cli(*fake_run_args(url, write_corpus(tmp_path / "in.jsonl", 6), out))
    prefix = read_only_prefix(out)
    try:
        p = subprocess.run([*prefix, sys.executable, "-m", "rephraser.cli", "stats", str(out), "--no-quality"],
                           capture_output=True, text=True, timeout=300)
    finally:
        for q in [out, *out.rglob("*")]:
            if q.is_dir():
                q.chmod(0o755)
    assert p.returncode == 0, p.stderr
    assert "echo" in p.stdout and "wrote" not in p.stdout
    warnings = [line for line in p.stderr.splitlines() if line.strip()]
    assert len(warnings) == 1 and warnings[0].startswith("warning: cannot write") and "stats_quality.json" in warnings[0]
    assert not (out / "stats_quality.json").exists()
