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
