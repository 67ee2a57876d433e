"""`rephraser prompts list|show` through the real typer app."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rephraser.cli import app
from rephraser.errors import ConfigError
from rephraser.prompts.registry import library

runner = CliRunner()


def test_list_shows_every_prompt_with_its_hash():
    result = runner.invoke(app, ["prompts", "list"])
    assert result.exit_code == 0, result.output
    for spec in library().values():
        assert spec.name in result.output
        assert spec.hash in result.output
    assert "markdown_table_then_qa" in result.output


def test_list_filters_by_family_and_rejects_unknown_family():
    result = runner.invoke(app, ["prompts", "list", "--family", "wrap"])
    assert result.exit_code == 0
    assert "wrap_qa" in result.output and "faq" not in result.output.replace("wrap_qa", "")
    result = runner.invoke(app, ["prompts", "list", "--family", "nope"])
    assert isinstance(result.exception, ConfigError)


def test_show_renders_the_template_with_an_example_document():
    result = runner.invoke(app, ["prompts", "show", "table"])
    assert result.exit_code == 0, result.output
    spec = library()["table"]
    assert spec.hash in result.output
    assert "markdown_table_then_qa" in result.output
    assert "Document:" in result.output and "{4,130 mi}" in result.output  # braces survive rendering
    assert "{document}" not in result.output


def test_show_accepts_a_yaml_path_and_a_document_file(tmp_path: Path):
    prompt = tmp_path / "shout.yaml"
    prompt.write_text("name: shout\nfamily: mine\nintent: Shout it.\ntemplate: |-\n  Shout this.\n\n  Document:\n  {document}\n")
    doc = tmp_path / "doc.txt"
    doc.write_text("quiet words {here}")
    result = runner.invoke(app, ["prompts", "show", str(prompt), "--document", str(doc)])
    assert result.exit_code == 0, result.output
    assert "shout" in result.output and "quiet words {here}" in result.output


@pytest.mark.parametrize("ref", ["no_such_prompt", "missing/file.yaml"])
def test_show_unknown_prompt_is_a_config_error(ref):
    result = runner.invoke(app, ["prompts", "show", ref])
    assert isinstance(result.exception, ConfigError)


def test_cli_prints_one_line_error_for_unknown_prompt():
    proc = subprocess.run(
        [sys.executable, "-m", "rephraser.cli", "prompts", "show", "no_such_prompt"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert proc.stderr.startswith("error: unknown prompt 'no_such_prompt'")
    assert "Traceback" not in proc.stderr


def test_judge_prints_the_verdict_and_cleaned_text(tmp_path: Path):
    out = tmp_path / "out.txt"
    out.write_text("Sure! Here is the FAQ:\nQ: What is it?\nA: A river.\nQ: Where?\nA: In Africa.\n\nHope this helps!")
    src = tmp_path / "src.txt"
    src.write_text("The Nile is a river in Africa.")
    result = runner.invoke(app, ["prompts", "judge", "faq", str(out), "--source", str(src)])
    assert result.exit_code == 0, result.output
    assert "ok" in result.output and "Hope this helps" not in result.output and "Q: What is it?" in result.output
    result = runner.invoke(app, ["prompts", "judge", "table", str(out)])
    assert result.exit_code == 1
    assert "validator:markdown_table_then_qa" in result.output and "no markdown table" in result.output
    result = runner.invoke(app, ["prompts", "judge", "faq", str(out), "--finish-reason", "length"])
    assert result.exit_code == 1 and "finish_reason=length" in result.output
    result = runner.invoke(app, ["prompts", "judge", "faq", str(tmp_path / "missing.txt")])
    assert isinstance(result.exception, ConfigError)
