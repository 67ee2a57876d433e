"""The contract's `echo` rule: an output that writes the prompt back (its instructions or worked example)."""

from __future__ import annotations

from rephraser.postprocess.contract import apply_contract
from rephraser.postprocess.echo import echo_problem
from rephraser.postprocess.stats import classify_reason
from rephraser.prompts.registry import resolve_prompt

SOURCE = ("Le phare de Cordouan a été allumé en 1611. Il se dresse à l'embouchure de la Gironde et guide "
          "les navires qui entrent dans l'estuaire depuis plus de quatre siècles.")


def test_an_faq_that_asks_the_worked_examples_questions_is_refused():
    spec = resolve_prompt("faq_exemplar")
    copied = ("Q: When was the Skerry Light first lit?\nA: It was first lit in 1611.\n\n"
              "Q: Why can its lamp be seen from so far?\nA: Il guide les navires qui entrent dans l'estuaire.")
    v = apply_contract(spec, copied, source_text=SOURCE, finish_reason="stop")
    assert (v.ok, v.rule) == (False, "echo") and v.reason.startswith('copies the prompt: "') and "skerry" in v.reason
    assert classify_reason(v.reason) == "echo"


def test_an_faq_of_the_sources_own_words_passes_the_echo_rule():
    spec = resolve_prompt("faq_exemplar")
    own = ("Q : Quand le phare de Cordouan a-t-il été allumé ?\nR : Il a été allumé en 1611.\n\n"
           "Q : Que fait le phare ?\nR : Il guide les navires qui entrent dans l'estuaire depuis plus de quatre siècles.")
    assert echo_problem(own, spec.overhead_text(), SOURCE) is None


def test_a_run_the_source_shares_with_the_prompt_is_not_an_echo():
    prompt = "Write a page of frequently asked questions about the document."
    source = "This is a page of frequently asked questions about bicycles, kept by the club."
    out = "It is a page of frequently asked questions about bicycles."
    assert echo_problem(out, prompt, source) is None
    assert echo_problem(out, prompt, "Bicycles are kept by the club.") == 'copies the prompt: "a page of frequently asked"'
