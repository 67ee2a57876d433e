"""Per-document layouts (prompts/layouts.py): sized from the source, labels in its language, steps that
count up, only the source's numbers when grounded, and every output they admit passes its validator."""

from __future__ import annotations

import re

import pytest

from rephraser.postprocess.contract import apply_contract
from rephraser.prompts.language import detect_language
from rephraser.prompts.layouts import (
    LAYOUTS,
    LayoutRefusal,
    build_layout,
    equations,
    plan_for,
    source_numbers,
)
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
                  "\n\nSolution:\n1. The lengths are 6,650 km and 6,400 km.\n2. 6,650 - 6,400 = 250 km.\n"
                  "Final answer: 250 km",
    ("tutorial", EN): "1. Find the river on a map of Africa.\n2. Follow it north to Egypt, for 6,650 km.\n"
                      "3. Note where it meets the sea.",
    ("faq", FR): "Q : Qu'est-ce que le Nil ?\nR : Un long fleuve d'Afrique.\n\nQ : Quelle est sa longueur ?\n"
                 "R : Environ 6 650 km.",
    ("math", FR): "Problème : Un fleuve fait 6 650 km. Combien font deux fleuves ?\n\nSolution :\n"
                  "1. On additionne les deux longueurs.\n2. 6 650 + 6 650 = 13300 km.\nRéponse finale : 13300 km",
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
    # a digit glued to letters is no number of the source (the measure does not read it either)
    assert source_numbers("Its basin covers 1,390,000 km2 of CO2-rich land.") == ["1,390,000", "1390000"]


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
    for src in (EN, FR, ES, "No digits at all in this one, just words.", " ".join([EN] * 12)):
        for max_tokens in (128, 256, 512):  # small budgets shrink units to their smallest sizes
            if grounded and name == "math" and not source_numbers(src):
                with pytest.raises(LayoutRefusal, match="grounded math needs numbers in the source"):
                    build_layout(name, src, max_tokens=max_tokens, grounded=grounded)
                continue
            to_llguidance("lark", build_layout(name, src, max_tokens=max_tokens, grounded=grounded))


class _Bytes:
    """A byte-level vocabulary (one token per byte), so grammars can be tested without loading a model."""

    eos_token_id, bos_token_id, special_token_ids = 256, None, [256]
    tokens = [bytes([i]) for i in range(256)] + [b"<eos>"]

    def __call__(self, s):
        return list(s if isinstance(s, bytes) else s.encode())


def admits(name: str, src: str, text: str, grounded: bool = True, max_tokens: int = 512) -> bool:
    import llguidance

    tok = llguidance.LLTokenizer(llguidance.TokenizerWrapper(_Bytes()))
    m = llguidance.LLMatcher(tok, to_llguidance("lark", build_layout(name, src, max_tokens=max_tokens,
                                                                      grounded=grounded)), log_level=0)
    return all(m.consume_token(b) for b in text.encode()) and m.is_accepting()


def test_a_capped_run_ends_on_a_whole_source_word():
    src = "The Nile flows north through Egypt and Sudan to the Mediterranean Sea, a long river in Africa."
    cell = build_layout("table", src, max_tokens=512, grounded=False)
    cap = int(re.search(r"^c: w \(\(SEP w\)\{0,(\d+)\}", cell, re.M).group(1)) + 1  # words a cell may hold
    words = ["north"] * cap
    table = "| River | Sea |\n|---|---|\n| {} | Africa |\n\nQuestion: Where is it?\nAnswer: Egypt."
    # at the cap the last word must be a whole source word ("Egypt"), not a piece or a glued run
    assert admits("table", src, table.format(" ".join(words + ["Egypt"])), grounded=False)
    assert not admits("table", src, table.format(" ".join(words + ["Egy"])), grounded=False)
    assert not admits("table", src, table.format(" ".join(words + ["theEgyptsea"])), grounded=False)
    # below the cap any word may end a cell
    assert admits("table", src, table.format("north Nubia"), grounded=False)
    # a cell of dashes is no word; ")" cannot join two words
    assert not admits("table", src, "| River | Sea |\n|---|---|\n| ------ | Africa |\n\nQuestion: Where is it?\nAnswer: "
                      "Egypt.", grounded=False)
    assert not admits("faq", src, "Q: Where is it?\nA: In themiddle)oftheEarth.\n\nQ: Is it long?\nA: It is long.",
                      grounded=False)
    assert admits("faq", src, "Q: Where is it (the Nile)?\nA: In Africa, near Egypt.\n\nQ: Is it long?\nA: Yes, it is long.",
                  grounded=False)


def test_grounded_math_computes_only_correct_results_of_source_numbers():
    sols = {"6,650 - 6,400 = 250": True, "6,650 - 6,400 = 251": False, "6,650 + 6,650 = 13300": True,
            "6,400 + 1990 = 8390": True, "10 + 18 = 28": False, "6,650 × 2 = 13300": False}
    for eq, ok in sols.items():
        text = (f"Problem: One river is 6,650 km long and one is 6,400 km long. What is the difference?\n\n"
                f"Solution:\n1. The first is 6,650 km long.\n2. {eq} km.\nFinal answer: {eq.rsplit(' = ', 1)[1]} km")
        assert admits("math", EN, text) == ok, eq
    # an equation opens its line (a prose step may still state source numbers)
    good = text.replace("6,650 × 2 = 13300", "6,650 - 6,400 = 250").replace("13300 km", "250 km")
    assert admits("math", EN, good)
    assert not admits("math", EN, good.replace("2. 6,650", "2. So 6,650"))
    assert "6,650 - 6,400 = 250" in equations(source_numbers(EN))
    assert not [e for e in equations(["3", "7"]) if "/" in e]  # 3/7 is no exact result: not offered
    assert "12 / 4 = 3" in equations(["12", "4"])


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


def test_french_and_spanish_questions_open_with_a_question_word_of_their_language():
    faq_fr = "Q : {}\nR : Un long fleuve d'Afrique.\n\nQ : Quelle est sa longueur ?\nR : Environ 6 650 km."
    assert admits("faq", FR, faq_fr.format("Qu'est-ce que le Nil ?"), max_tokens=256)
    assert not admits("faq", FR, faq_fr.format("Which river is it ?"), max_tokens=256)  # seen: English under "Q :"
    table_es = "| Río | Longitud |\n|---|---|\n| Nilo | 6650 km |\n\nPregunta: {}\nRespuesta: Unos 6650 km."
    assert admits("table", ES, table_es.format("¿Cuánto mide el Nilo?"))
    assert not admits("table", ES, table_es.format("How long is the Nile?"))
    assert admits("faq", EN, OK[("faq", EN)])  # English questions open freely


def test_a_number_without_one_value_is_left_out_of_the_arithmetic():
    # a held-out extract wrote "1.01.325": building its math layout crashed the run before this
    eqs = equations(["1.01.325", "12", "4"])
    assert "12 / 4 = 3" in eqs and not [e for e in eqs if "1.01.325" in e]
