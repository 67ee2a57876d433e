"""Output structures in prompt files: load-time checks, and that every library structure only admits
outputs its own validator accepts (the grammar is stricter than the contract, never looser)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rephraser.errors import ConfigError
from rephraser.postprocess.contract import apply_contract
from rephraser.prompts.registry import library
from rephraser.prompts.spec import load_prompt_file

BAD = """name: bad
family: test
intent: x
template: "Rewrite.\\n{document}"
contract:
  structure:
    grammar: |
      root ::= "Q: " answer
"""


def test_malformed_grammar_is_a_one_line_error_at_load_time(tmp_path):
    f = tmp_path / "bad.yaml"
    f.write_text(BAD)
    with pytest.raises(ConfigError) as e:
        load_prompt_file(f)
    msg = str(e.value)
    assert "\n" not in msg and "contract.structure" in msg and "malformed grammar" in msg and "answer" in msg
    p = subprocess.run([sys.executable, "-m", "rephraser.cli", "prompts", "show", str(f)], capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1 and p.stderr.startswith("error: ") and "malformed grammar" in p.stderr


@pytest.mark.parametrize("structure,needle", [
    ("    regex: 'Q: (a'\n", "malformed regex"),
    ("    json_schema: {type: bogus}\n", "malformed json_schema"),
    ("    regex: 'a'\n    grammar: 'root ::= \"a\"'\n", "exactly one of"),
])
def test_other_malformed_structures(tmp_path, structure, needle):
    f = tmp_path / "bad.yaml"
    f.write_text(BAD.split("  structure:")[0] + "  structure:\n" + structure)
    with pytest.raises(ConfigError, match=needle):
        load_prompt_file(f)


EXAMPLES = {
    "faq": "Q: What is the Nile?\nA: A river in Africa.\n\nQ: How long is it?\nA: About 6,650 km.\n\n"
           "Q: Where does it end?\nA: In the Mediterranean Sea.",
    "table": "| River | Length |\n|---|---|\n| Nile | 6650 km |\n| Amazon | 6400 km |\n\n"
             "Question: Which river is longer?\nAnswer: The Nile.",
    "math": "Problem: A boat travels 6 km per hour for 3 hours, then 4 km per hour for 2 hours. How far does it go?"
            "\n\nSolution:\n1. First part: 6 x 3 = 18 km.\n2. Second part: 4 x 2 = 8 km.\n3. Total: 18 + 8 = 26 km.\n"
            "Final answer: 26 km",
    "tutorial": "1. Find the river on a map of Africa.\n2. Follow it north to Egypt.\n3. Note where it meets the sea.",
    "discussion": "Student: What is the Nile?\nTeacher: It is a long river in Africa.\n"
                  "Student: Where does it flow?\nTeacher: North, into the Mediterranean Sea.",
    "diverse_qa_pairs": "Question-answer pairs about the text:\n\nQuestion: Is the Nile in Africa?\nAnswer: Yes."
                        "\n\nQuestion: Which sea does it reach?\nA) Red Sea\nB) Mediterranean Sea\nAnswer: B",
    "knowledge_list": "- The Nile is a river in Africa.\n- It flows north.\n- It is about 6,650 km long.",
    "wrap_qa": "Question: What is the Nile?\nAnswer: A river in Africa.\nQuestion: Where does it flow?\n"
               "Answer: North.",
}
# the exemplar variants share their prompt's contract, structure included (test_prompt_library)
EXAMPLES |= {f"{name}_exemplar": EXAMPLES[name] for name in ("faq", "table", "math", "tutorial")}
CJK_FREE = {"faq": "Q: ", "table": "| ", "math": "Problem: ", "tutorial": "1. "}
SOURCE = ("The Nile is a long river in Africa. It flows north for about 6,650 km to the Mediterranean Sea, "
          "through Egypt. The Amazon is 6,400 km long.")


@pytest.mark.model
def test_library_structures_admit_valid_outputs_that_their_contracts_accept():
    import llguidance

    from rephraser.engines.constraint import ConstraintFactory
    from rephraser.engines.llamacpp_model import LoadedModel
    from rephraser.engines.models import resolve_model
    from rephraser.prompts.structure import to_llguidance

    model = LoadedModel(resolve_model("smollm2-135m").path, 256, 1, 1)
    tok = ConstraintFactory(model.vocab, model.n_vocab, model.end_tokens()).tokenizer
    structured = {n: s for n, s in library().items() if s.contract.structure is not None}
    assert set(structured) == set(EXAMPLES)
    for name, spec in structured.items():
        st = spec.contract.structure
        m = llguidance.LLMatcher(tok, to_llguidance(st.form, st.value), log_level=0)
        for t in model.tokenize(EXAMPLES[name], special=False):
            assert m.consume_token(t), f"{name}: grammar rejects its example: {m.get_error()}"
        assert m.is_accepting(), f"{name}: example is incomplete under the grammar"
        v = apply_contract(spec, EXAMPLES[name], source_text=SOURCE, finish_reason="stop")
        assert v.ok, f"{name}: {v.reason}"
        # And something the grammar must refuse: free prose.
        bad = llguidance.LLMatcher(tok, to_llguidance(st.form, st.value), log_level=0)
        assert not all(bad.consume_token(t) for t in model.tokenize("The Nile is a river.", special=False))
        if name in CJK_FREE:  # full-width text costs 1-3 tokens a character: these grammars exclude it
            cjk = llguidance.LLMatcher(tok, to_llguidance(st.form, st.value), log_level=0)
            assert not all(cjk.consume_token(t) for t in model.tokenize(CJK_FREE[name] + "尼罗河；", special=False))
    model.close_context()
