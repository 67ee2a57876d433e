from rephraser.postprocess.cuts import cut_units

SOURCE = "The Global Navigation Satellite System covers many regions of the world. Paris is in France."


def test_units_cut_at_a_character_cap_are_found():
    # real ends of units cut by the old fixed caps (issue 25)
    assert cut_units("| System | Global Navigation Satell |\n|---|---|\n| GPS | USA |", SOURCE) == [
        "Global Navigation Satell"]
    assert cut_units("Q: What does it cover?\nA: It covers the general re", SOURCE) == ["It covers the general re"]


def test_whole_words_are_not_cuts():
    assert cut_units("Q: What does it cover?\nA: Many regions.\n\nQ: Where is Paris?\nA: France", SOURCE) == []
    assert cut_units("1. Go to the city of Lyon", SOURCE) == []  # unknown word, no lexicon: not judged
    assert cut_units("1. Go to the city of Lyon", SOURCE, lexicon={"lyon"}) == []
    assert cut_units("1. Go to the city of Lyo", SOURCE, lexicon={"lyon"}) == ["Go to the city of Lyo"]
    assert cut_units("| Year | 1990 |\n|---|---|\n| a | 12 km |", SOURCE) == []
    assert cut_units("Q: What does it cover?\nA: It covers the general re.", SOURCE, lexicon={"cover"}) == [
        "It covers the general re."]
