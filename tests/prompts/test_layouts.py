"""Per-document layouts (prompts/layouts.py): sized from the source, labels in its language, steps that
count up, only the source's numbers when grounded, and every output they admit passes its validator."""

from __future__ import annotations

import pytest

from rephraser.postprocess.contract import apply_contract
from rephraser.prompts.language import detect_language
from rephraser.prompts.layouts import LAYOUTS, build_layout, plan_for, source_numbers
from rephraser.prompts.registry import library
from rephraser.prompts.structure import to_llguidance

EN = ("The Nile is a long river in Africa. It flows north for about 6,650 km to the Mediterranean Sea, through "
      "Egypt. The Amazon is 6,400 km long. In 1990 it flooded.")
FR = ("Le Nil est un long fleuve d'Afrique. Il coule vers le nord sur environ 6 650 km jusqu'à la mer "
      "Méditerranée, à travers l'Égypte. Il est le plus long des fleuves du monde, avec une crue en 1990.")
ES = "El Nilo es un río de África que fluye hacia el norte por unos 6650 km y es uno de los más largos del mundo."

OK = {  # (layout, source) -> an output the grounded grammar must admit and the contract must accept
    ("faq", EN): "Q: What is the Nile?\nA: A long river in Africa.\n\nQ: How long is it?\nA: About 6,650 km, "
                 "longer than the Amazon.",
    ("table", EN): "| River | Length |\n|---|---|\n| Nile | 6,650 km |\n| Amazon | 6,400 km |\n\n"
                   "Question: Which river is longer?\nAnswer: The Nile.",
    ("math", EN): "Problem: A river is 6,650 km long and another is 6,400 km long. How much longer is the first?"
                  "\n\nSolution:\n1. Subtract the lengths: 6,650 - 6,400 = 250 km.\nFinal answer: 250 km",
    ("tutorial", EN): "1. Find the river on a map of Africa.\n2. Follow it north to Egypt, for 6,650 km.\n"
                      "3. Note where it meets the sea.",
    ("faq", FR): "Q : Qu'est-ce que le Nil ?\nR : Un long fleuve d'Afrique.\n\nQ : Quelle est sa longueur ?\n"
                 "R : Environ 6 650 km.",
    ("math", FR): "Problème : Un fleuve fait 6 650 km. Combien font deux fleuves ?\n\nSolution :\n"
                  "1. On additionne : 6 650 + 6 650 = 13300 km.\nRéponse finale : 13300 km",
    ("table", ES): "| Río | Longitud |\n|---|---|\n| Nilo | 6650 km |\n\nPregunta: ¿Cuánto mide el Nilo?\n"
                   "Respuesta: Unos 6650 km.",
}


def test_language_guess():
    assert (detect_language(EN), detect_language(FR), detect_language(ES)) == ("en", "fr", "es")
    assert detect_language("") == "en"


def test_source_numbers_keep_surface_forms_and_plain_forms():
    assert set(source_numbers(EN)) == {"6,650", "6650", "6,400", "6400", "1990"}
    assert "6 650" in source_numbers(FR) and "6650" in source_numbers(FR)
    # a French decimal comma is no thousands separator: "2,02" is 2.02, never 202
    assert source_numbers("Sa masse vaut 2,02 fois celle de la Lune.") == ["2,02"]


def test_sizes_follow_the_source_and_the_token_budget():
    short, long = plan_for("A short stub about a town.", 512), plan_for(" ".join([EN] * 12), 512)
    assert short.target_words < long.target_words <= long.budget_words
    assert plan_for(" ".join([EN] * 12), 128).budget_words < long.budget_words
    # more source -> more units allowed
    assert "pair){1,1}" in build_layout("faq", EN, max_tokens=512, grounded=False)
    assert "pair){1,4}" in build_layout("faq", " ".join([EN] * 12), max_tokens=512, grounded=False)


@pytest.mark.parametrize("name", sorted(LAYOUTS))
@pytest.mark.parametrize("grounded", [False, True])
def test_every_layout_compiles(name, grounded):
    for src in (EN, FR, ES, "No digits at all in this one, just words."):
        to_llguidance("lark", build_layout(name, src, max_tokens=512, grounded=grounded))


def test_library_prompts_name_their_layouts():
    lib = library()
    assert {n: lib[n].contract.layout for n in LAYOUTS} == {n: n for n in LAYOUTS}


@pytest.mark.model
def test_layouts_admit_good_outputs_and_refuse_invented_numbers_and_disorder():
    import llguidance

    from rephraser.engines.constraint import ConstraintFactory
    from rephraser.engines.llamacpp_model import LoadedModel
    from rephraser.engines.models import resolve_model

    model = LoadedModel(resolve_model("smollm2-135m").path, 256, 1, 1)
    tok = ConstraintFactory(model.vocab, model.n_vocab, model.end_tokens()).tokenizer

    def admits(name: str, src: str, text: str, grounded: bool = True) -> bool:
        m = llguidance.LLMatcher(tok, to_llguidance("lark", build_layout(name, src, max_tokens=512,
                                                                          grounded=grounded)), log_level=0)
        return all(m.consume_token(t) for t in model.tokenize(text, special=False)) and m.is_accepting()

    lib = library()
    for (name, src), text in OK.items():
        assert admits(name, src, text), f"{name}: grammar refuses {text!r}"
        v = apply_contract(lib[name], text, source_text=src, finish_reason="stop")
        assert v.ok or v.rule == "length_window", f"{name}: {v.reason}"
    faq_invented = "Q: What is the Nile?\nA: A river of 2020 km.\n\nQ: Where is it?\nA: In Africa, near Egypt."
    assert not admits("faq", EN, faq_invented)
    assert admits("faq", EN, faq_invented, grounded=False)
    assert not admits("tutorial", EN, "1. Find it on a map.\n3. Go north to Egypt.\n2. See the sea.")
    assert not admits("faq", EN, "Q: What is the Nile?\nA: It covers the general re")  # no sentence end
    assert not admits("faq", FR, OK[("faq", EN)])  # French source: French labels
    assert not admits("faq", EN, "Q: What is the Nile river?\nA: " + "1.2.3.4.5" * 8 + ".", grounded=False)  # digit runs
    # script drift seen at temperature 1: Arabic in an English FAQ, a Cyrillic "с" inside a French word
    assert not admits("faq", EN, "Q: What is the Nile river?\nA: سرورد ربغاخ.", grounded=False)
    assert not admits("faq", FR, "Q : Qu'est-ce que le Nil ?\nR : La réсtraction du fleuve.", grounded=False)
    model.close_context()
