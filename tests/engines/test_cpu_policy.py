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


@pytest.mark.parametrize(("busy", "threads"), [(0.1, 2), (0.9, 1), (1.2, 1), (2.0, 1)])
def test_threads_follow_the_cpus_busy_now_not_the_load_average(clean_env, busy, threads):
    clean_env.setattr(cpu_policy.os, "cpu_count", lambda: 2)
    clean_env.setattr(cpu_policy.os, "getloadavg", lambda: (25.0, 25.0, 25.0))  # e.g. a build that just ended
    clean_env.setattr(cpu_policy, "sample_busy", lambda cores: busy)
    p = cpu_policy.choose(None, apply=False)
    assert p.threads == threads and p.busy == busy and f"{busy:.1f} CPU(s) busy" in p.describe()
    assert cpu_policy.choose(3, apply=False).threads == 3  # engine.threads wins


@pytest.mark.parametrize(("load", "threads"), [(0.1, 2), (0.9, 1), (25.0, 1)])
def test_load_average_is_the_fallback_without_proc_stat(clean_env, load, threads):
    clean_env.setattr(cpu_policy.os, "getloadavg", lambda: (load, load, load))
    clean_env.setattr(cpu_policy, "sample_busy", lambda cores: None)
    p = cpu_policy.choose(None, apply=False)
    assert p.threads == threads and p.busy is None and f"load {load:.1f}" in p.describe()


def test_busy_cpus_from_proc_stat_count_all_but_idle():
    before = cpu_policy.cpu_times("cpu  100 50 20 800 10 5 5 0 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n")
    assert before == (180, 990)
    # 200 jiffies on 2 CPUs: user 40 + niced 20 + system 30 + irq 10 busy, 100 idle -> 1.0 CPU busy
    after = cpu_policy.cpu_times("cpu  140 70 50 900 10 15 5 0 0 0\n")
    assert cpu_policy.busy_between(before, after, 2) == pytest.approx(1.0)
    assert cpu_policy.busy_between(before, before, 2) == 0.0
    with pytest.raises(ValueError):
        cpu_policy.cpu_times("intr 1 2 3\n")
    busy = cpu_policy.sample_busy(0.01, 2)  # the real file, where there is one: a value in range
    assert busy is None or 0.0 <= busy <= 2.0


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
