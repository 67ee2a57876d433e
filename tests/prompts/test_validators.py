"""Each named format validator with realistic good and bad outputs."""

from __future__ import annotations

import pytest

from rephraser.prompts.validators import (
    VALIDATORS,
    dialogue,
    get_validator,
    markdown_table_then_qa,
    numbered_steps,
    problem_then_solution,
    qa_pairs,
    validate,
)

GOOD_TABLE = """| River | Length (km) | Outflow |
|:------|------------:|---------|
| Nile | 6,650 | Mediterranean Sea |
| Amazon | 6,400 | Atlantic Ocean |

Question: Which river in the table is longer?
Answer: The Nile."""


def test_table_good_variants():
    assert markdown_table_then_qa(GOOD_TABLE) is None
    # A title before, bold labels, question and answer on one line, no outer pipes on the separator.
    variant = (
        "### Key data\n\n|Year|Event|\n---|---\n|1889|Tower completed|\n|1930|Loses tallest title|\n\n"
        "**Question:** When was the tower completed? **Answer:** 1889"
    )
    assert markdown_table_then_qa(variant) is None


@pytest.mark.parametrize(
    "text, reason",
    [
        ("The Nile is 6,650 km long.\nQuestion: How long?\nAnswer: 6,650 km", "no markdown table"),
        ("| River | Length |\n| Nile | 6,650 |\n\nQuestion: How long?\nAnswer: 6,650 km", "table has no header separator row"),
        ("| River | Length |\n|---|---|\n\nQuestion: How long?\nAnswer: 6,650 km", "table has no data rows"),
        ("| River | Length |\n|---|---|\n| Nile | 6,650 | Egypt |\n\nQuestion: How long?\nAnswer: 6,650 km",
         "table has inconsistent column counts"),
        ("| River | Length |\n|---|---|\n| Nile | 6,650 |", "no question with an answer after the table"),
        ("| River | Length |\n|---|---|\n| Nile | 6,650 |\n\nQuestion: How long is the Nile?",
         "no question with an answer after the table"),
    ],
)
def test_table_bad(text, reason):
    assert markdown_table_then_qa(text) == reason


def test_qa_pairs_good_variants():
    assert qa_pairs("Q: What is the Nile?\nA: A river in Africa.\n\nQ: Where does it end?\nA: In the Mediterranean.") is None
    numbered_headings = (
        "### 1. What is the Nile?\nThe Nile is a river in northeast Africa.\n\n"
        "### 2. How long is it?\nAbout 6,650 kilometres."
    )
    assert qa_pairs(numbered_headings) is None
    multiple_choice = (
        "Question: Into which sea does the Nile flow?\nA) Red Sea\nB) Mediterranean Sea\nAnswer: B\n\n"
        "Question: Is the Nile in Africa?\nAnswer: Yes."
    )
    assert qa_pairs(multiple_choice) is None
    assert qa_pairs("**Q1:** Why? **A:** Because.\n**Q2:** When? **A:** Now.") is None


@pytest.mark.parametrize(
    "text",
    [
        "The Nile is a river. It is long. People farm along it.",  # prose, no questions
        "Q: What is the Nile?\nA: A river.",  # only one pair
        "What is the Nile?\nHow long is it?\nWhere does it end?",  # questions without answers
        "Q: What is the Nile?\nQ: How long is it?\nA: About 6,650 km.",  # first question unanswered
    ],
)
def test_qa_pairs_bad(text):
    assert qa_pairs(text) == "fewer than 2 question-answer pairs"


def test_problem_then_solution():
    good = (
        "**Problem:** A felucca carries 12 tourists per trip and makes 3 trips a day. How many tourists "
        "does it carry in a 5-day week?\n\n**Solution:**\n1. Tourists per day: 12 × 3 = 36.\n"
        "2. Tourists per week: 36 × 5 = 180.\nFinal answer: 180 tourists."
    )
    assert problem_then_solution(good) is None
    one_line = "Problem: Ana has 4 boxes of 6 eggs.\nSolution: 4 times 6 is 24. So Ana has 24 eggs."
    assert problem_then_solution(one_line) is None
    assert problem_then_solution("The Nile is long.\nSolution: 3 + 4 = 7") == "no problem statement"
    assert problem_then_solution("Problem: Add 3 and 4.\nIt is 7.") == "no solution section"
    assert problem_then_solution("Solution: 3 + 4 = 7.\nProblem: Add 3 and 4.") == "solution comes before the problem"
    assert problem_then_solution("Problem:\nSolution: 3 + 4 = 7\nDone.") == "empty problem statement"
    assert problem_then_solution("Problem: How wide is a river?\nSolution:\nIt is wide.\nVery.") == "problem has no quantities"
    assert problem_then_solution("Problem: Add 3 and 4.\nSolution: 7") == "solution shows no calculation"
    assert problem_then_solution("Problem: Add 3 and 4.\nSolution: 3 + 4 = 7") == "solution is not step-by-step"
    assert problem_then_solution("Problem: Add 3 and 4.\nSolution:") == "empty solution"


def test_numbered_steps():
    assert numbered_steps("1. Boil water.\n2. Add pasta.\n3. Drain after 9 minutes.") is None
    assert numbered_steps("Step 1: Read.\nStep 2: Think.\n**Step 3** Write.") is None
    assert numbered_steps("- Gather tools\n- Measure twice\n- Cut once") is None
    assert numbered_steps("1) a\n2) b") == "fewer than 3 steps"
    assert numbered_steps("First boil water, then add pasta, then drain it.") == "fewer than 3 steps"


def test_dialogue():
    good = (
        "Student: Why does the Nile flood every year?\nTeacher: Summer rains in the Ethiopian highlands swell it.\n"
        "Student: And why did that matter?\n**Teacher:** The flood left fertile silt on the fields."
    )
    assert dialogue(good) is None
    assert dialogue("Teacher: The Nile is long.\nTeacher: It flows north.\nTeacher: Into the sea.\nTeacher: Yes.") == (
        "fewer than 2 speakers")
    assert dialogue("Student: Why?\nTeacher: Rain.") == "fewer than 4 dialogue turns"
    # Q/A labels and prose with a colon are not speakers.
    assert dialogue("Q: Why?\nA: Rain.\nQ: When?\nA: Summer.") == "fewer than 2 speakers"
    assert dialogue("It is simple: rain.\nThe reason is this: silt.\nNote: ok.\nSummary: done.") == "fewer than 2 speakers"


def test_registry_and_unknown_names():
    assert set(VALIDATORS) == {"markdown_table_then_qa", "qa_pairs", "problem_then_solution", "numbered_steps", "dialogue"}
    assert validate(None, "anything") is None
    assert validate("numbered_steps", "1. a\n2. b\n3. c") is None
    with pytest.raises(KeyError, match="unknown validator 'tabel'"):
        get_validator("tabel")


# ---- French and Spanish labels, on real SmolLM2-135M outputs ------------------------------------------------
# tests/postprocess/fixtures/reading_outputs.json: prompts written in French/Spanish (make_reading_outputs.py),
# decoded under a grammar that fixes their labels; the text in between is the model's.
MATH_ES_OLE_ROMER = ("Problema:  5 dejunos de escena\n\nSolución:\nLa solución es después de 5 de junos de 1701. El papel "
                     "del máximo horambrón rósótico por el which de= 2250000\nEl aterro número 2250001 de la horambrón "
                     "máxima que lo ganaba desde 1985 5 de junos y otro 6 de 1701= 2250000")
MATH_FR_DENALI = ("Problème : Le nom des Étoiles de Keto-Siam (Etancla) sélectionne le nom du montagne en utilisant les "
                  "titres de cet appositions :\n\nSolution :\nLe décalac des Étoiles de Keto-Siam est le point de "
                  "l'Amérique du Nord, tout en avant le nom du mont= 6176118\nComme cela (Demonstratrice) pour l'est du "
                  "point de l'émotion de l'Amérique des Sekunders. COURRIÉDON= 12")
FAQ_FR_RIO_GRANDE = ("Q : Le royaume de France, un ami de la France, est unquel état de la France, 2019-05-22;  2019?\n"
                     "R : Là-la-là, c'est 2019, c'est une fin sur la France.\n\nQ : Le Canada, l'éau d'Orange, est le "
                     "quelque chose de la Canada, 2018-05-24; 2018-12-13;  201?\nR : Qu'est-ce que c'est? On lui déplume "
                     "l'éau d'Orange et s'est le quelque chose de la Canada? Enfin le Canada le reste des 2018-12-13. "
                     "2019, 2014-2016. L'Etoque de la Canada? Ça le so")
FAQ_ES_CARLOS_SLIM = ("P: Es un mercurioso enfermo en el mundo. El código de estereos para cada debe adreses es el c?\n"
                      "R: Impero del demigrel montecristo el nazaro.\n\nP: Está más límitico. Los derechos en la ciudad "
                      "el que se estás. La ciudad este de este menos?\nR: Cuentos y abogados eso. El alboros es cómico.")


def test_problem_and_solution_labels_in_french_and_spanish_are_labels():
    # Both were "no problem statement" when only English labels counted.
    assert problem_then_solution(MATH_ES_OLE_ROMER) is None
    # The French one is found too; what fails now is its content (no number in the problem), as it should.
    assert problem_then_solution(MATH_FR_DENALI) == "problem has no quantities"


def test_question_and_answer_labels_in_french_and_spanish_make_pairs():
    assert qa_pairs(FAQ_FR_RIO_GRANDE) is None and qa_pairs(FAQ_ES_CARLOS_SLIM) is None
    # an answer label of its own: "R :" / "Réponse :" / "Respuesta:" open an answer, also on the question's line
    assert qa_pairs("Q : Quelle hauteur ? R : 6 190 mètres.\nQ : Où ? Réponse : en Alaska.") is None
    assert qa_pairs("P: ¿Quién? Respuesta: Rømer.\nP: ¿Cuándo? R: en 1676.") is None


def test_the_label_excerpts_are_real_outputs():
    import json
    from pathlib import Path

    path = Path(__file__).parents[1] / "postprocess" / "fixtures" / "reading_outputs.json"
    records = {r["key"]: r["generation"] for r in json.loads(path.read_text(encoding="utf-8"))["records"]}
    for key, excerpt in [("math_es_labels/on/wiki-es/Ole Rømer", MATH_ES_OLE_ROMER),
                         ("math_fr_labels/on/wiki-fr/Denali", MATH_FR_DENALI),
                         ("faq_fr_labels/on/wiki-fr/Río Grande (fleuve)", FAQ_FR_RIO_GRANDE),
                         ("faq_es_labels/on/wiki-es/Carlos Slim", FAQ_ES_CARLOS_SLIM)]:
        assert excerpt in records[key], key
