"""The embedded engine's CPU policy: threads from the free cores, a bounded OpenMP spin, the user's
settings first (no model is loaded)."""

from __future__ import annotations

import pytest

from rephraser.engines import cpu_policy


@pytest.fixture
def clean_env(monkeypatch):
    for k in (*cpu_policy.USER_VARS, "REPHRASER_OMP"):
        monkeypatch.setenv(k, "x")  # recorded first, so whatever prepare() sets is undone afterwards
        monkeypatch.delenv(k)
    monkeypatch.setattr(cpu_policy, "_cores", lambda: 2)
    monkeypatch.setattr(cpu_policy, "_applied", {})
    return monkeypatch


@pytest.mark.parametrize(("load", "threads"), [(0.1, 2), (0.9, 1), (1.2, 1), (25.0, 1)])
def test_threads_follow_the_free_cores(clean_env, load, threads):
    clean_env.setattr(cpu_policy.os, "getloadavg", lambda: (load, load, load))
    assert cpu_policy.choose(None, apply=False).threads == threads
    assert cpu_policy.choose(3, apply=False).threads == 3  # engine.threads wins


def test_bounded_spin_unless_the_user_chose(clean_env):
    p = cpu_policy.choose(None, apply=False)
    assert "GOMP_SPINCOUNT" not in cpu_policy.os.environ and "GOMP_SPINCOUNT=10000" in p.describe()
    cpu_policy.prepare()
    assert cpu_policy.os.environ["GOMP_SPINCOUNT"] == str(cpu_policy.SPIN_COUNT)
    assert "GOMP_SPINCOUNT=10000 (set by rephraser)" in cpu_policy.prepare("passive")  # once per process
    clean_env.setattr(cpu_policy, "_applied", {})
    clean_env.delenv("GOMP_SPINCOUNT")
    cpu_policy.prepare("passive")
    assert cpu_policy.os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    clean_env.setattr(cpu_policy, "_applied", {})
    clean_env.delenv("OMP_WAIT_POLICY")
    clean_env.setenv("GOMP_SPINCOUNT", "123")
    clean_env.setenv("OMP_WAIT_POLICY", "PASSIVE")
    assert cpu_policy.prepare("libgomp") == "user setting OMP_WAIT_POLICY=PASSIVE, GOMP_SPINCOUNT=123"
    assert cpu_policy.os.environ["GOMP_SPINCOUNT"] == "123"
    clean_env.delenv("GOMP_SPINCOUNT")
    clean_env.delenv("OMP_WAIT_POLICY")
    clean_env.setenv("REPHRASER_OMP", "off")
    assert "libgomp default" in cpu_policy.prepare("bounded") and "GOMP_SPINCOUNT" not in cpu_policy.os.environ
