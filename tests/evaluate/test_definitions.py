"""The `lighteval` definitions: layouts, golds, sampling, shots, request tokenization and metrics,
checked against hand-derived values (test_lighteval_crosscheck.py compares with lighteval itself)."""

from __future__ import annotations

import math
import random

import pytest
import torch

from rephraser.errors import RephraserError
from rephraser.evaluate.score import ItemResult, task_metrics
from rephraser.evaluate.scoring_models import TorchCausalScorer
from rephraser.evaluate.suite import run_suite
from rephraser.evaluate.tasks import lighteval_format as fmt
from rephraser.evaluate.tasks import lighteval_select as select
from rephraser.evaluate.tasks.study import STUDY_TASKS

# ---- layouts ------------------------------------------------------------------------------------


def test_multichoice_and_qa_layouts():
    doc = fmt.multichoice("which gas do plants take in? ", ["carbon dioxide", "oxygen "], 0)
    assert doc.query == "Question: Which gas do plants take in?\nAnswer:"
    assert doc.choices == (" Carbon dioxide", " Oxygen") and doc.golds == (0,)
    qa = fmt.qa("how many?", ["23 years", "23", "23"], context="the regatta is older.")
    assert qa.query == "The regatta is older.\nQuestion: How many?\nAnswer:"
    assert qa.choices == (" 23 years", " 23") and qa.golds == (0, 1)  # duplicates merged, all golds


def test_hellaswag_and_winogrande_layouts():
    doc = fmt.hellaswag("A man is on a roof. [header] he", "takes", ["off the [step] shingles.", "a nap"], 0)
    assert doc.query == "A man is on a roof. he takes"  # [tags] vanish, ctx_b joined lower-case
    assert doc.choices == (" off the shingles.", " a nap")
    assert fmt.hellaswag("x", "", ["fine", " [step] "], 0) is None  # an ending empty after cleaning
    wino = fmt.winogrande("Sarah was better than Maria so _ got the easy cases.", "Sarah", "Maria", "2")
    assert wino.query == "Sarah was better than Maria so"
    # lighteval keeps the blank's own spaces: option + " " + " got ..." gives a double blank
    assert wino.choices == (" sarah  got the easy cases.", " maria  got the easy cases.") and wino.golds == (1,)
    assert fmt.winogrande("no blank here", "a", "b", "1") is None


def test_study_row_adapters_follow_the_study():
    squad = STUDY_TASKS["squad"]
    row = {"question": "q?", "context": "c.", "answers": {"text": ["", "a", "b", "a"], "answer_start": []}}
    assert squad.keep(row) and squad.prompt(row).choices == (" A", " B")
    assert not squad.keep({**row, "answers": {"text": [""], "answer_start": []}})
    drop = STUDY_TASKS["drop"]
    answer = {"number": "", "spans": ["x", "y"], "date": {"day": "3", "month": "May", "year": ""}}
    assert drop.prompt({"question": "q", "passage": "p", "answer": answer}).choices == (" X", " Y", " 3 May")
    redux = STUDY_TASKS["mmlu"]
    base = {"question": "q", "choices": ["w", "x", "y", "z"], "answer": 1, "correct_answer": None}
    assert redux.prompt({**base, "error_type": "ok"}).golds == (1,)
    assert redux.prompt({**base, "error_type": "wrong_groundtruth", "correct_answer": "C"}).golds == (2,)
    assert redux.prompt({**base, "error_type": "bad_question_clarity"}) is None
    gsm = STUDY_TASKS["gsm8k"].prompt({"question": "q", "answer": "step 1\n#### 42"})
    assert gsm.choices == (" 42",)


# ---- sampling and shots -------------------------------------------------------------------------


def _docs(n):
    return [fmt.multichoice(f"q{i}", [f"a{i % 3}", "other"], 0) for i in range(n)]


def test_sample_is_lightevals_seed_42_shuffle():
    order = list(range(50))
    random.Random(42).shuffle(order)
    assert select.sample(_docs(50), 7) == order[:7]
    assert len(select.sample(_docs(3), 10)) == 3


def test_balanced_candidates_by_hand():
    pool = _docs(9)  # targets " A0"/" A1"/" A2", three documents each
    got = select.balanced_candidates(pool, 3)
    # by hand: groups all have 3 members; Random(0) shuffles the sorted targets, then draws round-robin
    rng = random.Random(0)
    groups = {t: [d for d in pool if d.target() == t] for t in (" A0", " A1", " A2")}
    targets = sorted(groups)
    rng.shuffle(targets)
    want = []
    for t in (targets * 2)[:4]:
        want.append(groups[t].pop(rng.randrange(len(groups[t]))))
    assert got == want
    shots = select.shots_for(got[0], got, 3)  # an item never sees itself as a shot
    assert len(shots) == 3 and got[0].query + got[0].target() not in shots


# ---- request tokenization -----------------------------------------------------------------------

VOCAB, BOS = 260, 257


def enc(s: str, special: bool = False) -> list[int]:
    return ([BOS] if special else []) + list(s.encode())


def bigram(ids: torch.Tensor) -> torch.Tensor:
    logits = torch.zeros(ids.shape[0], ids.shape[1], VOCAB)
    logits.scatter_(2, ((ids + 1) % VOCAB)[..., None], 2.0)
    return logits


def lp(prev: int, tok: int) -> float:
    return (2.0 if tok == (prev + 1) % VOCAB else 0.0) - math.log(math.exp(2.0) + VOCAB - 1)


def lighteval_by_hand(context: str, cont: str, max_len: int, eos: int = 0) -> tuple[float, int]:
    if context == "":
        ctx, c = [eos], enc(cont, True)
    else:
        n = len(context) - len(context.rstrip())
        context, cont = (context[:-n], context[-n:] + cont) if n else (context, cont)
        ctx, whole = enc(context, True), enc(context + cont, True)
        c = whole[len(ctx):]
    seq = (ctx + c)[:-1][-max_len:] + c[-1:]
    first = len(seq) - len(c)
    return sum(lp(seq[i - 1], seq[i]) for i in range(first, len(seq))), len(c)


@pytest.mark.parametrize("max_len", [6, 64])
def test_lighteval_tokenization_by_hand(max_len):
    scorer = TorchCausalScorer("bigram", enc, bigram, max_len=max_len, prefix_ids=[0], eos_id=0)
    light = scorer.with_tokenization("lighteval")
    assert scorer.tokenization == "rephraser" and light.tokenization == "lighteval"
    requests = [("Answer: ", "abc"), ("xyz", " q"), ("", "hello"), ("a long context here", " end")]
    for (ctx, cont), (got, ntok, nbytes) in zip(requests, light.score(requests), strict=True):
        want, want_n = lighteval_by_hand(ctx, cont, max_len)
        assert got == pytest.approx(want, abs=1e-4) and ntok == want_n and nbytes == len(cont.encode())
    # the trailing blank moved into the continuation: one more scored token than the rephraser way
    assert light.score([("Answer: ", "abc")])[0][1] == 4 and scorer.score([("Answer: ", "abc")])[0][1] == 3


# ---- metrics ------------------------------------------------------------------------------------


def test_gold_only_and_all_choice_prob_norm_token():
    r = ItemResult("i", 0, (math.log(0.2), math.log(0.5 ** 2), math.log(0.1)), (1, 2, 1), (3, 3, 3), golds=(0, 2))
    assert r.prob_norm_token == pytest.approx(0.2)  # best gold
    assert r.prob_norm_token_all == pytest.approx(0.5)  # best choice overall (lighteval 0.11-0.13)
    m = r.metrics()
    assert m["acc"] == 0.0 and m["acc_norm_token"] == 0.0  # choice 1 wins and is not a gold
    qa = ItemResult("q", 0, (math.log(0.2), math.log(0.3)), (1, 1), (1, 1), golds=(0, 1))
    assert "acc" not in qa.metrics() and qa.prob_norm_token == qa.prob_norm_token_all == pytest.approx(0.3)


def test_grouped_task_metrics_average_group_means():
    rs = [ItemResult(f"g{i}", 0, (math.log(p),), (1,), (1,)) for i, p in enumerate([0.1, 0.3, 0.8])]
    groups = {"g0": "a", "g1": "a", "g2": "b"}
    m = task_metrics(rs, groups)
    assert m["prob_norm_token"] == pytest.approx((0.2 + 0.8) / 2) and m["n_groups"] == 2 and m["n_items"] == 3


# ---- the suite ----------------------------------------------------------------------------------


class Fixed:
    """Scores every continuation by its length only, so the metrics are known in advance."""

    name = "fixed"

    def score(self, requests):
        return [(-0.5 * len(c), len(c), len(c.encode())) for _, c in requests]


def test_run_suite_with_lighteval_definitions_records_the_profile():
    results, details = run_suite(Fixed(), tasks=["squad", "mmlu", "winogrande"], max_items=3,
                                 definitions="lighteval", prob_variant="all")
    cfg = results["config_general"]
    assert cfg["definitions"] == "lighteval" and cfg["prob_norm_token_variant"] == "all"
    assert cfg["datasets"] == "offline" and results["metric"] == "prob_norm_token_all"
    assert results["task_info"]["squad"]["lighteval_task"] == "lighteval|squad_v2|3"
    assert results["results"]["mmlu"]["n_groups"] == 57  # one lighteval task per subject, averaged
    assert len(details) == 3 + 57 * 3 + 3
    from rephraser.evaluate.tasks.study_load import load_study_task

    squad = load_study_task("squad", 30, 1234, 3).items  # SQuAD rows carry several distinct answers
    assert any(len(it.golds) > 1 for it in squad) and all(set(it.golds) == set(range(len(it.choices))) for it in squad)
    assert results["macro"] == pytest.approx(sum(results["categories"].values()) / len(results["categories"]))


def test_rephraser_definitions_refuse_real_datasets(tmp_path):
    with pytest.raises(RephraserError, match="definitions lighteval"):
        run_suite(Fixed(), tasks=["arc_easy"], max_items=2, datasets=str(tmp_path))
    with pytest.raises(RephraserError, match="unknown definitions"):
        run_suite(Fixed(), tasks=["arc_easy"], max_items=2, definitions="helm")
