"""Config mistakes name the file, line and column with the line itself and a caret; unknown flags and keys
come back as one line with the nearest match."""

from __future__ import annotations

import sys

import pytest

from rephraser.cli import main
from rephraser.commands.run import build_config
from rephraser.config import load_yaml
from rephraser.errors import ConfigError
from rephraser.experiments.config import ExperimentConfig
from rephraser.yaml_errors import excerpt, locate


def _error(tmp_path, text: str, model=None) -> str:
    """The one-line message, then (as the CLI shows it on a terminal) the excerpt lines."""
    f = tmp_path / "bad.yaml"
    f.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_yaml(f) if model is None else load_yaml(f, model)
    assert "\n" not in str(info.value)  # one line for logs and scripts
    return str(info.value) + (f"\n{info.value.detail}" if info.value.detail else "")


def test_a_yaml_syntax_error_names_line_and_column_with_a_caret(tmp_path):
    msg = _error(tmp_path, "prompts: [faq, table\nengine:\n  kind: llamacpp\n")
    first, src, caret = msg.splitlines()
    assert first.startswith(f"config file {tmp_path / 'bad.yaml'}:2:7: expected ',' or ']'")
    assert "flow sequence that starts at 1:10" in first
    assert src == "  2 | engine:" and caret.index("^") == src.index(":")  # the caret under the offending ':'


def test_a_bad_value_points_at_the_value(tmp_path):
    msg = _error(tmp_path, "prompts: [faq]\nsampling:\n  max_tokens: 64\n  top_p: 2\n")
    first, src, caret = msg.splitlines()
    assert first.endswith("bad.yaml:4:10: sampling.top_p: Input should be less than or equal to 1")
    assert caret.index("^") == src.index("2")


def test_an_unknown_key_points_at_the_key_and_suggests_the_nearest(tmp_path):
    msg = _error(tmp_path, "engine:\n  kind: llamacpp\n  modle: smollm2-135m\n")
    assert "bad.yaml:3:3: engine.modle: Extra inputs are not permitted (did you mean model?)" in msg
    grid = _error(tmp_path, "name: g\nprompts: [faq]\ngenerators:\n  a:\n    engine: {kind: llamacpp}\n"
                            "mix: {ratios: [0.5], tokens: 100}\nseeds: [0]\ntrain: {preset: tiny-1m}\nsoruces: {}\n",
                  ExperimentConfig)
    assert "bad.yaml:9:1: soruces:" in grid.splitlines()[0] and "did you mean sources?" in grid


def test_the_cli_shows_the_caret_on_a_terminal_and_one_line_in_a_log(tmp_path, monkeypatch, capsys):
    f = tmp_path / "run.yaml"
    f.write_text("prompts: [faq]\nengine:\n  modle: x\n", encoding="utf-8")
    monkeypatch.setattr(sys, "argv", ["rephraser", "run", "--config", str(f), "--print-config"])
    with pytest.raises(SystemExit):
        main()
    assert capsys.readouterr().err == f"error: {f}:3:3: engine.modle: Extra inputs are not permitted (did you mean model?)\n"
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    with pytest.raises(SystemExit):
        main()
    assert capsys.readouterr().err.splitlines()[1:] == ["  3 |   modle: x", "    |   ^"]


def test_an_error_a_flag_made_is_not_pointed_at_the_file(tmp_path):
    f = tmp_path / "ok.yaml"
    f.write_text("prompts: [faq]\nsampling:\n  top_p: 0.9\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        build_config(f, {"sampling.top_p": 3.0})
    assert str(info.value) == f"{f}: sampling.top_p: Input should be less than or equal to 1"


def test_locate_and_excerpt_edges():
    text = "a:\n  b:\n    - x: 1\n    - x: two\n"
    assert locate(text, ["a", "b", 1, "x"]) == (4, 10)
    assert locate(text, ["a", "missing"]) == (2, 3)  # the deepest part that exists
    assert locate("[unclosed", ["a"]) is None
    long = "k: " + "v" * 300
    first, caret = excerpt(long, 1, 250).splitlines()
    assert len(first) < 120 and first[caret.index("^")] == "v"


@pytest.mark.parametrize(("argv", "expected"), [
    (["try", "faq", "--doc", "3"], "error: rephraser try: no such option --doc (did you mean --docs?; "),
    (["run", "--modle", "x"], "error: rephraser run: no such option --modle (did you mean --model?; "),
    (["tyr"], "error: rephraser: No such command 'tyr'. Did you mean 'try'?"),
])
def test_usage_errors_are_one_line_with_the_nearest_match(monkeypatch, capsys, argv, expected):
    monkeypatch.setattr(sys, "argv", ["rephraser", *argv])
    with pytest.raises(SystemExit) as info:
        main()
    err = capsys.readouterr().err
    assert info.value.code == 2 and err.startswith(expected) and err.count("\n") == 1 and "Usage:" not in err
