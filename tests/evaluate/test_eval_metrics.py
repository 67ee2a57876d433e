"""Metrics against hand computation on toy models with known token probabilities."""

from __future__ import annotations

import math

import pytest
import torch

from rephraser.evaluate.bpb import bits_per_byte
from rephraser.evaluate.score import ItemResult, aggregate, mean_stderr, score_items, task_metrics
from rephraser.evaluate.scoring_models import TorchCausalScorer
from rephraser.evaluate.tasks.items import Item


class TableModel:
    """Scores continuations from a fixed table of per-token probabilities."""

    name = "table"

    def __init__(self, probs: dict[str, list[float]]) -> None:
        self.probs = probs
        self.seen: list[tuple[str, str]] = []

    def score(self, requests):
        self.seen.extend(requests)
        return [(sum(math.log(p) for p in self.probs[c]), len(self.probs[c]), len(c.encode())) for _, c in requests]


def test_item_metrics_match_hand_computation():
    # " A" : 2 tokens p=0.5,0.5 -> sum lp = 2 ln .5 ; " BBBBBB": 1 token p=0.3 (7 bytes)
    model = TableModel({" A": [0.5, 0.5], " BBBBBB": [0.3], " C": [0.1, 0.9]})
    item = Item("t/0", ("Q:",), (" A", " BBBBBB", " C"), gold=0)
    [res] = score_items(model, [item])
    assert model.seen == [("Q:", " A"), ("Q:", " BBBBBB"), ("Q:", " C")]
    assert res.prob_norm_token == pytest.approx(0.5)  # geometric mean of 0.5, 0.5
    # sum log-probs: A = ln .25 = -1.386, B = ln .3 = -1.204, C = ln .09 = -2.408 -> acc picks B (wrong)
    assert res.pred == 1 and res.metrics()["acc"] == 0.0
    # per byte: A = -1.386/2 = -0.693, B = -1.204/7 = -0.172, C = -1.204 -> acc_norm picks B too
    assert res.pred_norm == 1 and res.metrics()["acc_norm"] == 0.0
    assert res.gold_bpb == pytest.approx(-math.log(0.25) / (2 * math.log(2)))


def test_acc_norm_can_differ_from_acc():
    model = TableModel({" yes": [0.2], " a much longer answer": [0.1]})
    item = Item("t/1", ("Q:",), (" yes", " a much longer answer"), gold=1)
    [res] = score_items(model, [item])
    assert res.metrics()["acc"] == 0.0  # ln .2 > ln .1
    assert res.metrics()["acc_norm"] == 1.0  # ln .1 / 21 > ln .2 / 4


def test_single_choice_task_has_no_accuracy():
    model = TableModel({" 18": [0.25, 0.04]})
    [res] = score_items(model, [Item("g/0", ("Q:",), (" 18",), 0)])
    assert "acc" not in res.metrics()
    assert res.prob_norm_token == pytest.approx(0.1)


def test_task_mean_stderr_and_macro_micro():
    results = [ItemResult(str(i), 0, (math.log(p),), (1,), (2,)) for i, p in enumerate([0.1, 0.3])]
    m = task_metrics(results)
    assert m["prob_norm_token"] == pytest.approx(0.2)
    assert m["prob_norm_token_stderr"] == pytest.approx(math.sqrt(0.02 / 2))  # sample var 0.02, n=2
    assert mean_stderr([1.0]) == (1.0, 0.0)
    agg = aggregate(
        {"a": {"prob_norm_token": 0.2}, "b": {"prob_norm_token": 0.4}, "c": {"prob_norm_token": 0.9}},
        {"a": "GK", "b": "GK", "c": "RC"},
    )
    assert agg["categories"] == {"GK": pytest.approx(0.3), "RC": pytest.approx(0.9)}
    assert agg["macro"] == pytest.approx(0.6) and agg["micro"] == pytest.approx(0.5)
    assert "MATH" in agg["categories_missing"]


# ---- the torch scorer on a model whose probabilities are known ------------------------------------

VOCAB = 256  # byte-level "tokenizer"


def byte_encode(s: str, special: bool = False) -> list[int]:
    return list(s.encode())


def bigram_forward(ids: torch.Tensor) -> torch.Tensor:
    """p(next | prev) favours prev+1 (prob via logits 2.0 vs 0.0 elsewhere); depends only on prev."""
    logits = torch.zeros(ids.shape[0], ids.shape[1], VOCAB)
    nxt = (ids + 1) % VOCAB
    logits.scatter_(2, nxt[..., None], 2.0)
    return logits


def bigram_logprob(prev: int, tok: int) -> float:
    z = math.log(math.exp(2.0) + VOCAB - 1)
    return (2.0 if tok == (prev + 1) % VOCAB else 0.0) - z


def hand_score(context: str, continuation: str, prefix: int = 0) -> float:
    toks = byte_encode(context) or [prefix]
    cont = byte_encode(continuation)
    seq = toks + cont
    return sum(bigram_logprob(seq[i - 1], seq[i]) for i in range(len(toks), len(seq)))


@pytest.mark.parametrize("max_len", [8, 64])
def test_torch_scorer_matches_hand_sum_including_windows(max_len):
    scorer = TorchCausalScorer("bigram", byte_encode, bigram_forward, max_len=max_len, prefix_ids=[0], batch_tokens=40)
    requests = [("abc", "def"), ("abc", " xyz"), ("", "hello world, long enough to need windows"), ("q", "rs")]
    out = scorer.score(requests)
    for (ctx, cont), (lp, ntok, nbytes) in zip(requests, out, strict=True):
        assert lp == pytest.approx(hand_score(ctx, cont), abs=1e-4)
        assert ntok == len(cont.encode()) and nbytes == len(cont.encode())


def test_bits_per_byte_by_hand():
    scorer = TorchCausalScorer("bigram", byte_encode, bigram_forward, max_len=16, prefix_ids=[0])
    texts = ["abcd", "zz"]
    got = bits_per_byte(scorer, texts)
    expected = -(hand_score("", "abcd") + hand_score("", "zz")) / (6 * math.log(2))
    assert got["bpb"] == pytest.approx(expected, rel=1e-5)
    assert got["n_bytes"] == 6
