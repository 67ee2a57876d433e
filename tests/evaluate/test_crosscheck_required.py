"""The cross-checks cannot vanish in CI: with REPHRASER_REQUIRE_CROSSCHECK=1 a missing evaluator is a failure."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def _pytest(tmp_path: Path, env_value: str | None) -> subprocess.CompletedProcess:
    (tmp_path / "test_needs_evaluator.py").write_text(
        "from helpers import crosscheck_import\ncrosscheck_import('no_such_evaluator_here')\n\n"
        "def test_compare():\n    pass\n")
    env = {k: v for k, v in os.environ.items() if k != "REPHRASER_REQUIRE_CROSSCHECK"}
    if env_value is not None:
        env["REPHRASER_REQUIRE_CROSSCHECK"] = env_value
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)


def test_missing_evaluator_skips_locally_and_fails_in_ci(tmp_path: Path) -> None:
    local = _pytest(tmp_path, None)
    assert local.returncode in (0, 5) and "1 skipped" in local.stdout  # 5: nothing left to run, not a failure
    ci = _pytest(tmp_path, "1")
    assert ci.returncode != 0 and "REPHRASER_REQUIRE_CROSSCHECK is set but no_such_evaluator_here" in ci.stdout


def test_ci_sets_the_variable() -> None:
    assert "export REPHRASER_REQUIRE_CROSSCHECK=1" in (TESTS.parent / ".ci" / "run").read_text()
