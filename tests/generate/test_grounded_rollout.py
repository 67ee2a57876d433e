"""What a rollout sends per document under each constrain policy: the per-document layout where the
engine takes Lark, the source bias and the contrast prompt only where the engine honours them, and one
warning line for each part of `grounded` an engine cannot do."""

from __future__ import annotations

from rephraser.config import PostprocessConfig, RolloutConfig, SamplingConfig
from rephraser.engines.base import Capabilities
from rephraser.generate.rollouts import Rollout
from rephraser.prompts.registry import resolve_prompt

DOC = "The Nile is a long river in Africa. It flows north for about 6,650 km to the Mediterranean Sea."


def _caps(forms, steering=frozenset()) -> Capabilities:
    return Capabilities(model_id="m", engine="e", max_context=4096, batch_slots=1, count_tokens=lambda t: len(t) // 4,
                        structure_forms=frozenset(forms), steering=frozenset(steering))


def _rollout(caps, constrain, prompt="faq") -> Rollout:
    return Rollout(resolve_prompt(prompt), caps, None, SamplingConfig(max_tokens=256), RolloutConfig(),
                   PostprocessConfig(), 1, constrain=constrain)


def test_embedded_engine_gets_a_grounded_layout_bias_and_contrast(capsys):
    r = _rollout(_caps({"gbnf", "lark"}, {"source_bias", "context_aware"}), "grounded")
    st = r.structure_for(DOC)
    assert st.form == "lark" and '"6,650"' in st.value and "NUM:" in st.value
    assert r.steering_for(DOC) == {"bias_source": DOC, "contrast": resolve_prompt("faq").messages("")}
    assert capsys.readouterr().err == ""
    on = _rollout(_caps({"gbnf", "lark"}, {"source_bias"}), "on")
    assert '"6,650"' not in on.structure_for(DOC).value and on.steering_for(DOC) == {}
    assert _rollout(_caps({"gbnf", "lark"}), "off").structure_for(DOC) is None


def test_engines_without_lark_or_bias_keep_the_fixed_structure_and_say_what_is_lost(capsys):
    r = _rollout(_caps({"gbnf"}), "grounded")  # e.g. llama-server: GBNF only, no logit bias by words
    assert r.structure_for(DOC).form == "gbnf" and r.steering_for(DOC) == {}
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "source-only numbers" in err and "bias toward the source's names" in err
    _rollout(_caps({"lark"}), "grounded")  # vLLM: the grammar goes, the bias does not
    err = capsys.readouterr().err
    assert "source-only numbers" not in err and "names" in err


def test_grounded_math_on_a_document_without_numbers_is_rejected_before_any_call():
    import asyncio

    from rephraser.records import Document

    r = _rollout(_caps({"gbnf", "lark"}), "grounded", prompt="math")  # caller None: a call would fail loudly
    [row] = asyncio.run(r.run(Document(id="d1", text="The river runs north through a desert to the sea.")))
    assert (row.status, row.reason) == ("rejected", "grounded math needs numbers in the source (none found)")
    assert "EQ:" in r.structure_for(DOC).value  # with numbers: a layout whose equations are listed
