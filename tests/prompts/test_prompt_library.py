"""The shipped prompt library: completeness, conventions, identity (hash) and rendering."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from rephraser.errors import ConfigError
from rephraser.prompts.registry import LIBRARY_DIR, library, resolve_prompt
from rephraser.prompts.spec import PromptSpec, load_prompt_file
from rephraser.prompts.validators import VALIDATORS, validate

# Every prompt of the FinePhrase study (its own and the prior-work baselines), by family.
EXPECTED = {
    "finephrase": {"math", "table", "faq", "tutorial", "article", "commentary", "discussion", "explanation", "narrative"},
    "nemotron-cc": {"wikipedia_style_rephrasing", "diverse_qa_pairs", "distill", "extract_knowledge", "knowledge_list"},
    "rewire": {"guided_rewrite"},
    "beyondweb": {"continue", "summarize"},
    "wrap": {"wrap_easy", "wrap_wikipedia", "wrap_hard", "wrap_qa"},
    # this project's variants (issue 25): a study prompt with one short worked example
    "rephraser": {"faq_exemplar", "table_exemplar", "math_exemplar", "tutorial_exemplar"},
}


def test_every_library_file_loads_with_a_unique_name_matching_its_file():
    files = sorted(LIBRARY_DIR.glob("*.yaml"))
    names = [load_prompt_file(f).name for f in files]
    assert len(names) == len(set(names))
    assert [f.stem for f in files] == names


def test_every_study_prompt_exists_in_its_family():
    specs = library()
    for family, names in EXPECTED.items():
        for name in names:
            assert name in specs, f"missing prompt {name}"
            assert specs[name].family == family
    assert set(specs) == set().union(*EXPECTED.values())


@pytest.mark.parametrize("name", sorted(set().union(*EXPECTED.values())))
def test_prompt_follows_the_study_conventions(name):
    spec = library()[name]
    assert spec.intent.strip().endswith(".") and len(spec.intent) > 20
    c = spec.contract
    if c.validator is not None:
        assert c.validator in VALIDATORS
    if c.min_length_ratio is not None and c.max_length_ratio is not None:
        assert 0 < c.min_length_ratio < c.max_length_ratio
    if spec.mode == "continuation":
        return
    # One user message: instruction first, the document last after a "Document:" line.
    assert spec.template.endswith("\nDocument:\n{document}")
    instruction = spec.template.split("Document:\n{document}")[0]
    assert len(instruction.split()) >= 15
    assert spec.system is None  # the study used no system prompt; the field is for your own prompts
    # Every announcing line the model is asked to write is also stripped, and vice versa.
    for prefix in c.strip_prefixes:
        assert f'"{prefix}"' in spec.template


def test_format_prompts_ask_for_the_output_only():
    for name in EXPECTED["finephrase"]:
        instruction = library()[name].template.split("Document:")[0]
        assert re.search(r"Reply with only .*(nothing|else)", instruction), name


def test_specific_contracts():
    specs = library()
    assert specs["table"].contract.validator == "markdown_table_then_qa"
    assert specs["math"].contract.validator == "problem_then_solution"
    assert specs["tutorial"].contract.validator == "numbered_steps"
    assert specs["discussion"].contract.validator == "dialogue"
    for name in ("faq", "diverse_qa_pairs", "wrap_qa"):
        assert specs[name].contract.validator == "qa_pairs"
    for name in ("wikipedia_style_rephrasing", "diverse_qa_pairs"):
        assert len(specs[name].contract.strip_prefixes) == 1
    rewire = specs["guided_rewrite"]
    tag = rewire.contract.keep_tagged_block
    assert tag and f"<{tag}>" in rewire.template and f"</{tag}>" in rewire.template
    assert specs["continue"].mode == "continuation" and specs["continue"].contract.allow_length_finish
    # Condensing prompts must come out shorter than their input; FAQ may be longer.
    for name in ("summarize", "distill"):
        assert specs[name].contract.max_length_ratio <= 1.2
    assert specs["faq"].contract.max_length_ratio >= 3


def test_hash_is_stable_and_tracks_every_field(tmp_path: Path):
    spec = library()["faq"]
    raw = yaml.safe_load((LIBRARY_DIR / "faq.yaml").read_text())
    again = PromptSpec.model_validate(raw)
    assert again.hash == spec.hash and re.fullmatch(r"[0-9a-f]{12}", spec.hash)
    edited = dict(raw, template=raw["template"].replace("curious", "careful"))
    assert PromptSpec.model_validate(edited).hash != spec.hash
    stricter = dict(raw, contract=dict(raw["contract"], min_length_ratio=0.5))
    assert PromptSpec.model_validate(stricter).hash != spec.hash
    # A user copy of the same content on disk has the same identity.
    copy = tmp_path / "my_faq.yaml"
    copy.write_text(yaml.safe_dump(raw))
    assert resolve_prompt(str(copy)).hash == spec.hash


def test_hashes_are_distinct_across_the_library():
    hashes = [s.hash for s in library().values()]
    assert len(hashes) == len(set(hashes))


def test_render_keeps_braces_and_format_markers_in_documents():
    doc = "config = {\"a\": {document}} and f'{x}' %s {0}"
    for spec in library().values():
        out = spec.render(doc)
        assert out.endswith(doc)
        assert out.count(doc) == 1
    assert library()["continue"].render(doc) == doc


def test_unknown_validator_is_a_config_error_at_load(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "name: bad\nfamily: mine\nintent: x.\ntemplate: 'Do it.\n\n  Document:\n\n  {document}'\n"
        "contract:\n  validator: tabel\n"
    )
    with pytest.raises(ConfigError, match=r"contract\.validator: .*unknown validator 'tabel'"):
        load_prompt_file(bad)


def test_template_without_slot_is_a_config_error(tmp_path: Path):
    bad = tmp_path / "noslot.yaml"
    bad.write_text("name: noslot\nfamily: mine\nintent: x.\ntemplate: no slot here\n")
    with pytest.raises(ConfigError, match="exactly one"):
        load_prompt_file(bad)


def test_two_prompts_with_one_name_are_refused_naming_both(tmp_path):
    from rephraser.prompts.registry import resolve_prompts

    mine = tmp_path / "my_faq.yaml"
    mine.write_text((LIBRARY_DIR / "faq.yaml").read_text().replace("Instruction", "My instruction", 1))
    with pytest.raises(ConfigError) as e:
        resolve_prompts(["table", "faq", str(mine)])
    assert "'faq'" in str(e.value) and "library prompt 'faq'" in str(e.value) and str(mine) in str(e.value)
    assert [s.name for s in resolve_prompts(["table", "faq"])] == ["table", "faq"]


@pytest.mark.parametrize("base", ["faq", "table", "math", "tutorial"])
def test_exemplar_variants_differ_from_their_prompt_only_by_the_worked_example(base):
    lib = library()
    plain, variant = lib[base], lib[f"{base}_exemplar"]
    assert variant.contract == plain.contract  # same layout, validator, length window and fixed structure
    assert variant.hash != plain.hash
    # the example shows the very layout the contract asks for, and is judged ok by it
    example = variant.template.split("):\n", 1)[1].split("\n\nNow write", 1)[0]
    note = variant.template.split('("', 1)[1].split('")', 1)[0]
    assert validate(plain.contract.validator, example) is None
    assert "language of the document" in variant.template and note not in plain.template
