"""The engine's start-up measurements (threads, step cost) against a stand-in llama.cpp whose decode
time is set by the test on a fake clock: the choice logic, not this machine's speed, is under test."""

from __future__ import annotations

from types import SimpleNamespace

from rephraser.engines import cpu_policy, llamacpp_stepcost


class FakeLlama:
    """llama_decode advances a fake clock by a cost that depends on the thread count and the rows."""

    def __init__(self, clock: list[float], cost):
        self.clock, self.cost, self.threads, self.removed = clock, cost, 1, []

    def llama_batch_init(self, n, embd, seqs):
        return SimpleNamespace(token=[0] * n, pos=[0] * n, n_seq_id=[0] * n, seq_id=[[0] for _ in range(n)],
                               logits=[False] * n, n_tokens=0)

    def llama_batch_free(self, batch):
        pass

    def llama_set_n_threads(self, ctx, n, nb):
        self.threads = n

    def llama_decode(self, ctx, batch):
        self.clock[0] += self.cost(self.threads, batch.n_tokens)
        return 0

    def llama_memory_seq_rm(self, memory, seq, p0, p1):
        self.removed.append((seq, p0))


def fake_model(cost, threads=1, cores=2):
    clock = [0.0]
    lib = FakeLlama(clock, cost)
    policy = cpu_policy.CpuPolicy(cores=cores, load=0.0, threads=threads, wait="bounded", busy=1.0)
    m = SimpleNamespace(lib=lib, ctx=None, memory=None, ctx_per_seq=1024, n_batch=512, threads=threads, cpu=policy)
    m.set_threads = lambda t, timed: (setattr(m, "threads", t), setattr(m, "cpu", m.cpu.measured(t, timed)))
    return m, clock


def test_threads_are_chosen_by_the_timed_step(monkeypatch):
    # a second thread halves the step here: the busy-CPU guess (1 thread) is overruled
    m, clock = fake_model(lambda t, rows: 0.010 * rows / t)
    monkeypatch.setattr(llamacpp_stepcost.time, "perf_counter", lambda: clock[0])
    llamacpp_stepcost.choose_threads(m, 8)
    assert m.threads == 2 and m.lib.threads == 2
    assert "2 thread(s) of 2" in m.cpu.describe() and "1: 80.0 ms, 2: 40.0 ms" in m.cpu.describe()
    assert m.lib.removed[-1] == (7, -1)  # the throwaway sequence is emptied afterwards
    # a second thread that waits on a shared core: one thread stays
    m, clock = fake_model(lambda t, rows: 0.010 * rows * (1.0 if t == 1 else 1.8))
    monkeypatch.setattr(llamacpp_stepcost.time, "perf_counter", lambda: clock[0])
    llamacpp_stepcost.choose_threads(m, 8)
    assert m.threads == 1 and m.lib.threads == 1


def test_step_cost_samples_cover_one_to_twice_parallel_rows(monkeypatch):
    m, clock = fake_model(lambda t, rows: 0.006 + 0.0025 * rows)
    monkeypatch.setattr(llamacpp_stepcost.time, "perf_counter", lambda: clock[0])
    samples = llamacpp_stepcost.measure(m, 7, 8)
    rows = sorted({r for _, r, _ in samples})
    assert rows[0] == 1 and rows[-1] >= 16
    assert all(abs(s - (0.006 + 0.0025 * r)) < 1e-9 for _, r, s in samples)
