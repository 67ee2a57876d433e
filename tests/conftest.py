"""Shared test fixtures. Tests never touch the network; model tests use the shipped SmolLM2 GGUF."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from helpers import SLURM_LOCAL, real_slurm_missing, spawn_fake, wiki_texts
from rephraser import logs

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"  # read-only fixtures; present in CI, never needed by the product

# Keep any library that could reach a hub offline during tests.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# Commands print width-free when piped and wrap at $COLUMNS when it is set (commands/_console.py); tests read
# the piped form, whatever terminal (or harness exporting COLUMNS) started them.
os.environ.pop("COLUMNS", None)
# Library log lines reach stderr as the CLI shows them (rephraser.cli.main configures the same way).
logs.configure()


@pytest.fixture
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def tiny_corpus(tmp_path_factory) -> Path:
    """~400 wiki extracts tokenized with a 512-token BPE (≈80k tokens), 5% held out (proxy training tests)."""
    from rephraser.mix.tokenize import tokenize_texts, train_bpe

    texts = wiki_texts(400)
    out = tmp_path_factory.mktemp("tokens")
    tokenize_texts(texts, out, train_bpe(texts, vocab_size=512), "test-bpe-512", heldout_fraction=0.05)
    return out


@pytest.fixture
def fake_server():
    """Factory: fake_server('--delay-ms', '5') -> base URL; every process is killed afterwards."""
    procs = []

    def start(*args: str) -> str:
        proc, port = spawn_fake(*args)
        procs.append(proc)
        return f"http://127.0.0.1:{port}"

    yield start
    for p in procs:
        p.kill()
        p.wait(timeout=10)


# ---- a real single-node Slurm cluster (../shared/tools/slurm-local.sh), shared by every test session --------
_SLURM_USERS = Path("/tmp/rephraser-slurm-local.users")  # one file per test session using the cluster
TERMINAL_SLURM_STATES = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY",
                         "BOOT_FAIL", "DEADLINE", "PREEMPTED", "SPECIAL_EXIT"}


class LocalSlurm:
    """Submit to, inspect and clean up after the local cluster. Job states come from squeue (no accounting)."""

    def __init__(self) -> None:
        self.submitted: list[str] = []

    def sbatch(self, *args: str, cwd: Path | None = None) -> str:
        import subprocess

        r = subprocess.run(["sbatch", "--parsable", *args], capture_output=True, text=True, cwd=cwd)
        assert r.returncode == 0, f"sbatch {' '.join(args)} failed: {r.stderr.strip()}"
        job = r.stdout.strip().split(";")[0]
        self.submitted.append(job)
        return job

    def track(self, *jobs: str) -> None:
        """Jobs submitted by other means (a submit script) that cleanup() must cancel."""
        self.submitted.extend(jobs)

    def states(self, job: str) -> dict[str, str]:
        """{'123_0': 'RUNNING', ...} for every task of an array (or {'123': state}); {} once Slurm forgot it."""
        import subprocess

        r = subprocess.run(["squeue", "-h", "-r", "--states=all", "-j", job, "-o", "%i|%T"],
                           capture_output=True, text=True)
        return dict(line.split("|", 1) for line in r.stdout.split() if "|" in line)

    def wait(self, job: str, until, timeout: float = 240.0, what: str = "") -> dict[str, str]:  # noqa: ANN001
        """Poll until until(states) is true; fail with the last states after `timeout` seconds."""
        import time

        deadline = time.monotonic() + timeout
        states: dict[str, str] = {}
        while time.monotonic() < deadline:
            states = self.states(job)
            if states and until(states):
                return states
            time.sleep(0.5)
        raise AssertionError(f"job {job}: {what or 'condition'} not reached in {timeout:.0f}s; states: {states}")

    def wait_finished(self, job: str, timeout: float = 240.0) -> dict[str, str]:
        return self.wait(job, lambda s: all(v in TERMINAL_SLURM_STATES for v in s.values()), timeout, "all finished")

    def cleanup(self) -> None:
        import subprocess

        if self.submitted:
            subprocess.run(["scancel", *self.submitted], capture_output=True)
            self.submitted.clear()


def _slurm_users_lock():
    import contextlib
    import fcntl

    @contextlib.contextmanager
    def locked():
        _SLURM_USERS.mkdir(exist_ok=True)
        with open(_SLURM_USERS / ".lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            yield

    return locked()


@pytest.fixture(scope="session")
def slurm_cluster_session():
    """Start the local Slurm cluster once per session (as root; skipped otherwise). Several test sessions on
    one machine share it: it is stopped only by the last session that uses it, and only if tests started it."""
    import subprocess

    missing = real_slurm_missing()
    if missing:
        pytest.skip(missing)
    me = _SLURM_USERS / str(os.getpid())
    with _slurm_users_lock():
        was_up = _which("scontrol") and "is UP" in subprocess.run(["scontrol", "ping"], capture_output=True,
                                                                   text=True).stdout
        r = subprocess.run(["bash", str(SLURM_LOCAL), "start"], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.fail(f"slurm-local.sh start failed: {(r.stderr or r.stdout).strip()[-2000:]}")
        if not was_up:
            (_SLURM_USERS / ".started-by-tests").touch()
        me.touch()
    yield LocalSlurm
    with _slurm_users_lock():
        me.unlink(missing_ok=True)
        alive = []
        for p in _SLURM_USERS.iterdir():
            if p.name.isdigit() and _pid_alive(int(p.name)):
                alive.append(p)
            elif p.name.isdigit():
                p.unlink()  # a session that was killed before its teardown
        if not alive and (_SLURM_USERS / ".started-by-tests").exists():
            subprocess.run(["bash", str(SLURM_LOCAL), "stop"], capture_output=True, text=True)
            (_SLURM_USERS / ".started-by-tests").unlink(missing_ok=True)


@pytest.fixture
def slurm_cluster(slurm_cluster_session):
    """A LocalSlurm handle for one test; the jobs it submitted or tracked are cancelled afterwards."""
    cluster = slurm_cluster_session()
    yield cluster
    cluster.cleanup()


def _which(cmd: str) -> bool:
    import shutil

    return shutil.which(cmd) is not None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
