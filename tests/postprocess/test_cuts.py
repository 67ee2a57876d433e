from rephraser.postprocess.contract import apply_contract
from rephraser.postprocess.cuts import cut_problem, cut_units
from rephraser.postprocess.lexicon import lexicon_of
from rephraser.prompts.registry import library

SOURCE = "The Global Navigation Satellite System covers many regions of the world. Paris is in France."
# a small stand-in for the embedded extracts' word list (postprocess/lexicon.py)
LEX = lexicon_of({"weather", "dynamics", "which", "similar", "middle", "earth", "large", "est", "general",
                  "region", "regions", "cover", "covers", "mass", "rivers", "sunflower"})


def test_units_cut_at_a_character_cap_are_found():
    # real ends of units cut by the old fixed caps (issue 25)
    assert cut_units("| System | Global Navigation Satell |\n|---|---|\n| GPS | USA |", SOURCE) == [
        "Global Navigation Satell"]
    assert cut_units("Q: What does it cover?\nA: It covers the general re", SOURCE) == ["It covers the general re"]
    assert cut_units("1. Walk to the old harb", SOURCE, lexicon={"harbour"}) == ["Walk to the old harb"]
    # a name counts only beside its whole form in the texts: the lexicon continues too many names
    assert cut_units("1. Go to the city of Lyo", SOURCE, lexicon={"lyon"}) == []


def test_words_glued_at_a_word_cap_are_found():
    # real ends of SmolLM2-135M units at the word caps of the v4 layouts (grounded run, 2026-12-06)
    faq = ("Q: What is it?\nA: It is a science called aeronik, which is similartothe.\n\n"
           "Q: Where is it?\nA: The Earth is a massive ball. In themiddle)oftheEarth.")
    assert cut_units(faq, SOURCE, LEX) == ["It is a science called aeronik, which is similartothe.",
                                           "The Earth is a massive ball. In themiddle)oftheEarth."]
    assert cut_units("Answer: It is a term used in atmospheric science andweatherdynamics.", SOURCE, LEX) == [
        "It is a term used in atmospheric science andweatherdynamics."]
    # glued, and the last piece cut: "est" + "larg(e)"
    assert cut_units("Réponse : La masse est le plus gros. La leleque estlarg.", "La masse est grande.", LEX) == [
        "La masse est le plus gros. La leleque estlarg."]
    # the source's own words are enough to see a glued run, without a lexicon
    assert cut_units("1. The system covers manyregionsofthe", SOURCE) == ["The system covers manyregionsofthe"]


def test_whole_words_and_legitimate_endings_are_not_cuts():
    assert cut_units("Q: What does it cover?\nA: Many regions.\n\nQ: Where is Paris?\nA: France", SOURCE) == []
    assert cut_units("1. Go to the city of Lyon", SOURCE) == []  # unknown word, not a piece of one: not judged
    assert cut_units("1. Go to the city of Lyon", SOURCE, lexicon={"lyon"}) == []
    assert cut_units("| Year | 1990 |\n|---|---|\n| a | 12 km |", SOURCE) == []
    # numbers, abbreviations, URLs, e-mail addresses
    assert cut_units("A: It was founded in the U.S.\nA: See https://example.org/satell\nA: Write to info@satell.org"
                     "\nA: Built in 1990.\nA: Rivers, lakes, etc.\nA: About 6,650 km", SOURCE, LEX) == []
    # French elisions and English possessives are judged on the word itself
    fr = "La Terre est au centre de l'Univers. Elle tourne jusqu'à la fin."
    assert cut_units("Q : Où est-elle ?\nR : Au centre de l'Univers.\n\nQ : Jusqu'où ?\nR : Jusqu'à", fr) == []
    assert cut_units("A: It is the world's", SOURCE) == []
    # a word of the lexicon, a rare word that is no piece of a known one, a real word ending a question
    assert cut_units("A: A field of sunflower.\nA: Made of enceintheque.\nQ: What does it cover?", SOURCE, LEX) == []
    assert cut_units("Q: What does it cover?\nA: Covers.", SOURCE) == []  # "cover" begins "covers", but ends a question
    # real SmolLM2 endings a lexicon lacks: a compound, a word that begins a French one, a name
    assert cut_units("A: You can ask anytime.\nA: For each paragraph.\nA: The Virgin of Perugia.", SOURCE,
                     lexicon_of({"par", "agra", "pharaoh", "paragraphe", "any", "time", "anytimes", "perugian"})) == []
    # a name the lexicon continues, without its longer form in the texts (a table cell copied from an exemplar)
    assert cut_units("| Lake | Depth |\n|---|---|\n| Orla | deep |", SOURCE, lexicon_of({"orlando"})) == []
    # a near-word of a French output, not glued: "bou" + "le" + "ment" (held-out grounded FAQ, 2026-12-06)
    assert cut_units("Q : How old is the last member of the de la etre boulement?", SOURCE,
                     lexicon_of({"bou", "ment", "boule"})) == []


def test_the_contract_refuses_a_row_with_a_unit_cut_mid_word():
    faq = library()["faq"]
    src = ("Extratropical cyclones occur in the middle latitudes of the Earth. They are driven by the weather "
           "and its dynamics, which is a science.")
    good = ("Q: Where do extratropical cyclones occur?\nA: In the middle latitudes of the Earth.\n\n"
            "Q: What drives them?\nA: The weather and its dynamics.")
    assert apply_contract(faq, good, source_text=src, finish_reason="stop").ok
    glued = good.replace("its dynamics.", "itsdynamicswhich.")
    v = apply_contract(faq, glued, source_text=src, finish_reason="stop")
    assert (v.ok, v.rule, v.reason) == (False, "cut", 'unit cut mid-word: "The weather and itsdynamicswhich."')
    assert cut_problem(good, src) is None
