"""apply_contract never raises and never hangs, whatever the model emits."""

from __future__ import annotations

import random

import pytest

from rephraser.postprocess.contract import apply_contract
from rephraser.prompts.registry import library

FRAGMENTS = [
    "Q:", "A:", "Answer:", "Question:", "|", "---", "|---|", "\n", "\n\n", "<think>", "</think>", "<improved_document>",
    "</improved_document>", "Sure!", "Here is the FAQ:", "I'm sorry", "1.", "- ", "**", "Teacher:", "Student:", "?",
    "3 + 4 = 7", "Problem:", "Solution:", " ", "word", "Nile", "{document}", "é", "\u00a0", "\r\n", "#",
    "I hope this helps.", ":", "(", ")", "Paraphrased in encyclopedic style:", "\x00", "\ud800",
]


def test_random_outputs_get_consistent_verdicts():
    rng = random.Random(1234)
    specs = list(library().values())
    for _ in range(1500):
        raw = "".join(rng.choice(FRAGMENTS) + rng.choice(["", " "]) for _ in range(rng.randint(0, 60)))
        spec = rng.choice(specs)
        v = apply_contract(spec, raw, source_text="src " * rng.randint(0, 30), finish_reason=rng.choice(["stop", "length"]))
        assert v.ok == (v.rule is None) == (v.reason is None)
        assert v.text == v.text.strip()
        if not v.ok:
            assert v.rule.split(":")[0] in {"finish_reason", "tagged_block", "refusal", "empty", "validator", "echo", "cut",
                                              "length_window"}


DEGENERATE = {
    "long space run after a name": "Teacher" + " " * 20000 + "x",
    "long space run after a label": "Problem" + " " * 20000 + "x",
    "tabs": "Q" + "\t" * 20000 + "x?",
    "one huge number": "Problem: 3 apples\nSolution:\n" + "1" * 20000 + " x\nok",
    "spaced digits": "Problem: 3 apples\nSolution:\n" + "1 " * 10000,
    "pipe then spaces": "|" + " " * 20000 + "x",
    "here is without colon": "Here is " + " " * 20000,
    "stars": "*" * 20000,
    "hashes": "#" * 20000 + " x",
    "chatter only": "Let me know. " * 5000,
    "unclosed think tags": "<think>" * 5000 + "</think>" * 10,
    "unclosed tagged blocks": "<improved_document>" * 3000,
}


@pytest.mark.timeout(20)  # takes < 1 s; a quadratically backtracking regex took 30 s+ per prompt here
@pytest.mark.parametrize("name", sorted(DEGENERATE))
def test_degenerate_outputs_do_not_hang(name):
    for spec in library().values():
        v = apply_contract(spec, DEGENERATE[name], source_text="abc " * 50, finish_reason="stop")
        assert v.ok == (v.rule is None)
