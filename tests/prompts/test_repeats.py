from rephraser.prompts.repeats import repeated_unit
from rephraser.prompts.validators import validate


def test_three_identical_pairs_are_refused():
    # the shape of a real constrained output of the 135M model (issue 25)
    text = "\n\n".join(["Q: [Question]. Please provide a document with the requested information?\nA: [Response]."] * 3)
    assert validate("qa_pairs", text).startswith("repeated unit")


def test_distinct_units_and_short_repeats_pass():
    assert repeated_unit("1. Find the river.\n2. Follow it north.\n3. Find the river mouth.") is None
    assert repeated_unit("Q: Is it long?\nA: Yes.\n\nQ: Is it wide?\nA: Yes.") is None
    assert validate("numbered_steps", "1. Go north to Egypt.\n2. Go north to Egypt.\n3. Stop.") == \
        'repeated unit: "go north to egypt"'
    rows = "| Nile river basin | 6650 |\n|---|---|\n| Nile river basin | 6650 |\n\nQuestion: Which?\nAnswer: Nile."
    assert validate("markdown_table_then_qa", rows).startswith("repeated unit")


def test_numbered_lines_must_count_up():
    from rephraser.prompts.numbering import numbering_problem

    # the real tutorial of issue 25, and steps written backwards
    assert validate("numbered_steps", "8. Cut the wood.\n8. Sand the wood.\n8. Paint it.\n9. Let it dry.") == \
        "numbering starts at 8"
    assert numbering_problem("1. Cut the wood.\n2. Sand it.\n2. Paint it.") == "numbering out of order: 2 after 2"
    assert numbering_problem("1. Cut.\n3. Paint.") == "numbering out of order: 3 after 1"
    # counting up, a second list starting again at 1, decorations, prose lines between, years in prose
    assert numbering_problem("Tools:\n1. A saw.\n2. A file.\nSteps:\n1. Cut.\n**2.** Sand.\n- 3. Paint.") is None
    assert numbering_problem("1990 was a dry year.\n1. Water the plants.\nThen wait.\n2. Water again.") is None
    assert validate("problem_then_solution", "Problem: A box holds 12 eggs. How many in 2 boxes?\nSolution:\n"
                    "1. Each box holds 12 eggs.\n3. So 2 x 12 = 24 eggs.") == "numbering out of order: 3 after 1"


def test_a_table_row_of_one_cell_in_every_column_is_refused():
    table = "| Name | Kind | Place |\n|---|---|---|\n| femelle | femelle | femelle |\n| Physeter | genre | océans |"
    assert repeated_unit(table) == 'repeated cells: "femelle" in every column'
    assert repeated_unit("| A | B | C |\n|---|---|---|\n| 1837 | 1837 | 1837 |") == 'repeated cells: "1837" in every column'
    # two cells may agree (a name and its value), and a header separator is not a row
    assert repeated_unit("| Year | Event |\n|---|---|\n| 1911 | 1911 |\n| 1852 | first lit |") is None
