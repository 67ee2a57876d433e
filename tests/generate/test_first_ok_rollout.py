"""`rollout.keep: first_ok`: rejection sampling that stops at the first output passing the contract."""

from __future__ import annotations

import asyncio

from rephraser.config import PostprocessConfig, RolloutConfig, SamplingConfig
from rephraser.engines.base import Capabilities, Completion
from rephraser.generate.rollouts import Rollout
from rephraser.prompts.registry import resolve_prompt
from rephraser.records import Document

DOC = Document(id="d1", text="The Nile is a long river in Africa. It flows north for about 6,650 km to the "
                            "Mediterranean Sea, through Egypt and Sudan, and feeds farms along its banks.")
GOOD = ("Q: How long is the Nile?\nA: The Nile flows north for about 6,650 km to the Mediterranean Sea.\n\n"
        "Q: Which countries does the Nile cross?\nA: It runs through Sudan and Egypt and feeds farms along its banks.")
BAD = "Nothing here."


class ScriptedCaller:
    """Answers call i with outputs[i] and records each call's seed."""

    def __init__(self, outputs: list[str]):
        self.outputs, self.seeds = outputs, []

    async def call(self, messages, sampling, **_kw):
        self.seeds.append(sampling.seed)
        text = self.outputs[len(self.seeds) - 1]
        return Completion(text=text, finish_reason="stop", prompt_tokens=100, completion_tokens=10 * len(self.seeds)), 1


def _run(outputs: list[str], n: int = 3, enforce: bool = True):
    caps = Capabilities(model_id="m", engine="e", max_context=4096, batch_slots=1, count_tokens=lambda t: len(t) // 4,
                        structure_forms=frozenset())
    caller = ScriptedCaller(outputs)
    r = Rollout(resolve_prompt("faq"), caps, caller, SamplingConfig(max_tokens=256, n=n),
                RolloutConfig(kind="samples", keep="first_ok"), PostprocessConfig(enforce=enforce), 1, constrain="off")
    return asyncio.run(r.run(DOC)), caller


def test_stops_at_the_first_output_that_passes_and_counts_every_call():
    [row], caller = _run([BAD, GOOD, GOOD])
    assert len(caller.seeds) == 2 and len(set(caller.seeds)) == 2  # each try has its own seed; the third is not made
    assert (row.status, row.sample, row.calls) == ("ok", 1, 2)
    assert (row.prompt_tokens, row.completion_tokens) == (200, 30)  # both calls are paid for


def test_an_unenforced_contract_still_decides_when_to_sample_again():
    [row], caller = _run([BAD, GOOD, GOOD], enforce=False)  # a grid keeps failing rows, yet retries them
    assert (row.status, row.sample, row.calls, row.reason) == ("ok", 1, 2, None)
    # the one that passed is kept, though the failure before it (one pair quoting the whole source) scores higher
    [row], _ = _run(["Q: What is the Nile?\nA: " + DOC.text, GOOD], n=2, enforce=False)
    assert (row.sample, row.reason) == (1, None)


def test_a_first_output_that_passes_is_one_call():
    [row], caller = _run([GOOD, BAD, BAD])
    assert (row.status, row.sample, row.calls, len(caller.seeds)) == ("ok", 0, 1, 1)


def test_when_none_passes_the_best_rejected_one_is_kept_with_its_reason():
    [row], caller = _run([BAD, BAD], n=2)
    assert len(caller.seeds) == 2 and row.status == "rejected" and row.calls == 2 and row.reason


def test_a_row_refused_before_decoding_is_not_retried():
    caps = Capabilities(model_id="m", engine="e", max_context=4096, batch_slots=1, count_tokens=lambda t: len(t) // 4,
                        structure_forms=frozenset({"gbnf", "lark"}))
    caller = ScriptedCaller([])  # a call would fail: no output scripted
    r = Rollout(resolve_prompt("math"), caps, caller, SamplingConfig(max_tokens=256, n=3),
                RolloutConfig(kind="samples", keep="first_ok"), PostprocessConfig(), 1, constrain="grounded")
    [row] = asyncio.run(r.run(Document(id="d2", text="The river runs north through a desert to the sea.")))
    assert row.status == "rejected" and row.calls == 0 and caller.seeds == []


def test_a_grid_generator_with_tries_or_a_seed_is_its_own_cell_and_the_others_keep_their_keys():
    from pathlib import Path

    from rephraser.experiments.cells import expand, unique_stages
    from rephraser.experiments.config import ExperimentConfig

    base = {"name": "t", "prompts": ["faq"], "sources": {"wiki": {"source": {"path": None, "limit": 50}, "rephrase_docs": 4}},
            "generators": {"g": {"engine": {"kind": "llamacpp", "model": "smollm2-135m"}, "constrain": "grounded"}},
            "mix": {"ratios": [0.5], "tokens": 1000}, "seeds": [0], "tokenizer": {"vocab_size": 512},
            "train": {"preset": "tiny-1m", "tokens": 1000}}
    both = {**base, "generators": {**base["generators"], "g_retry": {**base["generators"]["g"], "tries": 3},
                                   "g_seed1": {**base["generators"]["g"], "seed": 1}}}

    def generates(cfg):
        return {s.meta.generator: s for s in unique_stages(expand(cfg)) if s.kind == "generate"}

    plain, cfg = generates(ExperimentConfig.model_validate(base)), ExperimentConfig.model_validate(both)
    gen = generates(cfg)
    assert gen["g"].key == plain["g"].key  # unchanged by another generator's tries
    assert gen["g_retry"].key != gen["g"].key
    run = gen["g_retry"].run_config(cfg, Path("/nonexistent"))
    assert (run.sampling.n, run.rollout.kind, run.rollout.keep) == (3, "samples", "first_ok")
    # another draw of the same generator: only the sampling seed differs
    assert gen["g_seed1"].key not in (gen["g"].key, gen["g_retry"].key)
    other = gen["g_seed1"].run_config(cfg, Path("/nonexistent"))
    assert (other.sampling.seed, other.sampling.n) == (1, 1) and run.sampling.seed == 0
