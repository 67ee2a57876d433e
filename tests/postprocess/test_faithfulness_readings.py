"""The faithfulness measures read real outputs right: each misreading found by hand on SmolLM2-135M outputs,
with the output it was found in. Outputs are copied verbatim (or a verbatim excerpt) from the fixtures named
in each test (tests/postprocess/fixtures/floor_outputs.json, reading_outputs.json, smollm2_outputs.json);
sources are the Wikipedia lead extracts they were made from."""

from __future__ import annotations

from rephraser.postprocess.faithfulness import content_words, entity_spans, measure, words_of
from rephraser.postprocess.lang_words import STOP_WORDS, language_of

TAGORE = ("Rabindranath Tagore, was a British Indian poet, author, playwright, musician, composer, philosopher, social "
          "reformer, painter, and one of the foremost figures of the Bengal Renaissance. In 1913, Tagore became the "
          "first Indian and non-European to win a Nobel Prize in any category, and also the first lyricist to win the "
          "Nobel Prize in Literature. A significant moulder of culture within Bengal and the Indian subcontinent, he "
          "wrote and composed the national anthems of India and Bangladesh.")
DENALI = ("Le mont McKinley, également connu sous son nom autochtone Denali, est une montagne s'élevant à 6\xa0190\xa0"
          "mètres d'altitude dans la chaîne d'Alaska, dans l'État du même nom aux États-Unis. Il constitue le point "
          "culminant de l'Amérique du Nord et fait donc partie des sept sommets. Il est couvert de glaciers.")
RIO_GRANDE = ("Le río Grande, nommé ainsi aux États-Unis, nommé río Bravo del Norte ou plus communément río Bravo au "
              "Mexique, est un fleuve long de 3\xa0060\xa0km qui prend sa source dans le Colorado et sert de frontière "
              "entre le Mexique et les États-Unis sur les 2\xa0038\xa0derniers kilomètres de son cours.")

# Outputs, verbatim (whole or an excerpt), with the fixture record they come from (test_excerpts_are_real_outputs).
TAGORE_FAQ = ("Q: [Expect] [Question] Q: [Response] Q: Q: Can you provide a list of the Top 100 BN?\n"
              "A: [Answer] Q: Uh, how does a 250 ml can hold 2.5 l of water?\n\n"
              "Q: In 1934, How many stars are there in the Big Ben?\nA: Q: P.S. 12+12+1 = 22")
KAHN_FAQ = 'Q: Write an answer to the question "What was Louis Isadore Kahn\'s name." in 4132.5L?\nA: Ah! 4132.5L.'
NILE_FAQ_LINE = "The Nile's significance lies in its role as the source of African's climate"
DENALI_MATH = ("Aujour d'abord, le nouveau liécon tard le mond McKinley, des rèсtions 619 kilometres environnementale au "
               "début 190 mètres d'altitude, environnementale avec les résultats de l'amérique du Nord.")
RIO_GRANDE_MATH = ("L'échange de travail à l'aide de la Méthique Algumienne est une facèle de débat des équipes sur la "
                   "santé, régulade en 702 enfermants, et cela pourrait faire un prétexculaire sur la qualité du nautre.")
DENALI_FAQ = "Allez-tu votre aide en résumé de 1801 à la Nouvelle Royale des Nations Unies?\n\n(No answer)"
DENALI_MATH_LABELS = ("Problème : Le nom des Étoiles de Keto-Siam (Etancla) sélectionne le nom du montagne en utilisant "
                      "les titres de cet appositions :\n\nSolution :\nLe décalac des Étoiles de Keto-Siam est le point "
                      "de l'Amérique du Nord, tout en avant le nom du mont= 6176118\nComme cela (Demonstratrice) pour "
                      "l'est du point de l'émotion de l'Amérique des Sekunders. COURRIÉDON= 12")
LAGRANGE_TABLE_TAIL = ("Question: [2]  What  is  the second step of Lagrange multipliers  to solve the three body "
                       "problem? [3]\nAnswer: [4] [3] When solving a three body problem (Lagrange multipliers), 3   | you need")
TAGORE_TABLE = ("|  Question: How to write,|   King: King Rabindra.  |\n|---|---|\n|  Answer: King   |   King Rabindra.   |\n"
                "|  Reply: No   |   The answer is no.  |\n|  Question: How to read,|   Write: Sentence: Kabir|\n"
                "|  Answer: Kabir       |   Kabir Bai    |\n\nQuestion: How to read,  |   Read: Sentence: Kabir    |   "
                "Sentence: Kabir   |\nAnswer: King   |   Kabir     |   Kabir Bai       |")


def test_a_number_after_the_article_a_is_a_number_not_a_label():
    # floor_outputs.json faq/constrained/wiki-en/Rabindranath Tagore: "a 250" read like the label "A3"
    assert "250" in measure(TAGORE_FAQ, TAGORE).invented_numbers
    # while a one-letter label with its number is still layout
    assert measure("Q3: Who won in 1913?\nA3: Tagore, in 1913.", TAGORE).invented_numbers == ()


def test_possessives_and_apostrophe_variants_are_the_name_itself():
    # floor_outputs.json faq/constrained/wiki-en/Louis Kahn: "Louis Isadore Kahn's" was an invented name
    source = ("Louis Isadore Kahn was an Estonian-born American architect based in Philadelphia. After working in "
              "various capacities for several firms in Philadelphia, he founded his own atelier in 1935.")
    assert measure(KAHN_FAQ, source).invented_entities == ()
    # smollm2_outputs.json faq/Nile: "The Nile's significance ..." against a source that says "the Nile"
    nile = "The Nile is a major north-flowing river in northeastern Africa."
    assert measure(NILE_FAQ_LINE, nile).invented_entities == ("African's",)  # "The Nile's" is the Nile
    # the typographic apostrophe reads like the straight one, both ways round
    assert measure("Jean Sibelius’s music", "Jean Sibelius's work").invented_entities == ()
    assert words_of("Earth’s orbit") == words_of("Earth's orbit") == ["earth", "orbit"]


def test_space_grouped_thousands_are_one_number():
    # floor_outputs / reading_outputs math_fr (free) on Denali: "190 mètres" against the source's "6 190 mètres"
    f = measure(DENALI_MATH, DENALI)
    assert "190" in f.invented_numbers  # 6 190 is 6190, so 190 is not in the source (it was read as 6 and 190)
    assert measure("Le Denali s'élève à 6190 mètres.", DENALI).invented_numbers == ()
    assert measure("Le Denali s'élève à 6 190 mètres.", DENALI).invented_numbers == ()
    assert measure("long de 3060 km", RIO_GRANDE).invented_numbers == ()


def test_french_function_words_are_not_content():
    # reading_outputs.json math_fr (free) on Río Grande: a text about something else; its recall came only
    # from French function words ("des", "les", "une", "est" were content words for the English-only list)
    src_words = words_of(RIO_GRANDE)
    assert language_of(src_words) == "fr"
    assert not content_words(src_words, "fr") & STOP_WORDS["fr"]
    assert measure(RIO_GRANDE_MATH, RIO_GRANDE).content_recall == 0.0
    # reading_outputs.json faq_fr (free) on Denali: nothing of the source
    assert measure(DENALI_FAQ, DENALI).content_recall == 0.0


def test_capitals_beyond_ascii_start_a_name_and_elided_articles_are_cut():
    # reading_outputs.json math_fr_labels (constrained) on Denali. With [A-Z] the name "Étoiles de Keto-Siam"
    # was read as "Keto-Siam", and "l'Amérique du Nord" (in the source) as the invented "Amérique du Nord".
    assert measure(DENALI_MATH_LABELS, DENALI).invented_entities == ("Amérique des Sekunders", "Demonstratrice", "Etancla",
                                                      "Étoiles de Keto-Siam")
    assert "États-Unis" in entity_spans(DENALI)  # one name, not "Unis"


CASABLANCA = ("Casablanca is a 1942 American romantic drama film directed by Michael Curtiz and starring Humphrey Bogart, "
              "Ingrid Bergman, and Paul Henreid. Filmed and set during World War II, it focuses on an American "
              "expatriate (Bogart) who must choose between his love for a woman (Bergman) and helping her husband "
              "(Henreid), a Czechoslovak resistance leader, escape from the Vichy-controlled city of Casablanca to "
              "continue his fight against the Nazis.")
CASABLANCA_TABLE = ("| Table of Contents | Markdown Table of Data |\n|---|---|\n| 1. Summary of the Movie | Act I: "
                    "Casablanca opens;|\n| 2. The Story | Act II: Bogart becomes a|\n| 3. The Movie | Act III: En "
                    "route, the|\n| 4. The Movie | Act IV: Casablanca ends;|")


def test_numbering_in_table_cells_and_brackets_is_layout():
    # floor_outputs.json table/constrained/wiki-en/Casablanca (film): the table, verbatim. Its rows are numbered
    # "1." to "4." inside the first cell; all four were invented numbers.
    assert measure(CASABLANCA_TABLE, CASABLANCA).invented_numbers == ()
    # floor_outputs.json table/constrained/wiki-en/Lagrange point, its last two lines verbatim: "[4]" numbers
    # the answer; it was an invented 4.
    lagrange = ("In celestial mechanics, the Lagrange points are points of equilibrium for small-mass objects. "
                "Mathematically, this involves the solution of the restricted three-body problem.")
    assert measure(LAGRANGE_TABLE_TAIL, lagrange).invented_numbers == ()
    # a first column that counts the rows is numbering too; one that does not is data
    counted = "| # | Orbit |\n|---|---|\n| 1 | GEO |\n| 2 | LEO |"
    assert measure(counted, "GEO and LEO orbits").invented_numbers == ()
    assert measure("| Orbit | km |\n|---|---|\n| GEO | 1 |\n| LEO | 2 |", "GEO and LEO orbits").invented_numbers == ("1", "2")


def test_table_headers_and_cell_openings_are_not_names():
    # the same Casablanca table: "Table of Contents" and "Markdown Table of Data" (its header) were names
    assert not {"Table of Contents", "Markdown Table of Data"} & set(measure(CASABLANCA_TABLE, CASABLANCA).invented_entities)
    # floor_outputs.json table/constrained/wiki-en/Rabindranath Tagore, verbatim: "King", "Read", "Sentence", "Write"
    # open cells or follow a cell's label; "King Rabindra" and "Kabir Bai" are (invented) names
    assert measure(TAGORE_TABLE, TAGORE).invented_entities == ("Kabir Bai", "King Rabindra")


EXCERPTS = [
    ("floor_outputs.json", "faq/constrained/wiki-en/Rabindranath Tagore", TAGORE_FAQ),
    ("floor_outputs.json", "faq/constrained/wiki-en/Louis Kahn", KAHN_FAQ),
    ("floor_outputs.json", "table/constrained/wiki-en/Casablanca (film)", CASABLANCA_TABLE),
    ("floor_outputs.json", "table/constrained/wiki-en/Lagrange point", LAGRANGE_TABLE_TAIL),
    ("floor_outputs.json", "table/constrained/wiki-en/Rabindranath Tagore", TAGORE_TABLE),
    ("reading_outputs.json", "math_fr/off/wiki-fr/Denali", DENALI_MATH),
    ("reading_outputs.json", "math_fr/off/wiki-fr/Río Grande (fleuve)", RIO_GRANDE_MATH),
    ("reading_outputs.json", "faq_fr/off/wiki-fr/Denali", DENALI_FAQ),
    ("reading_outputs.json", "math_fr_labels/on/wiki-fr/Denali", DENALI_MATH_LABELS),
]


def test_excerpts_are_real_outputs():
    """Every output these tests read is (part of) a real model output kept in a fixture."""
    import json
    from pathlib import Path

    fixtures = Path(__file__).parent / "fixtures"
    for name, key, excerpt in EXCERPTS:
        records = {r["key"]: r for r in json.loads((fixtures / name).read_text(encoding="utf-8"))["records"]}
        assert excerpt in (records[key]["generation"] or ""), (name, key)
    nile = json.loads((fixtures / "smollm2_outputs.json").read_text(encoding="utf-8"))["records"][0]
    assert nile["title"] == "Nile" and NILE_FAQ_LINE in nile["raw"]
