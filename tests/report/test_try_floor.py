"""`rephraser try` never says PASS on a row the content floor turns down (fake OpenAI server on loopback)."""

from __future__ import annotations

import json
import re

from helpers import run_cli

# The fake server answers with the text after the prompt's last "Document:" line. This template puts the
# real document first and a fixed unrelated text last, so the "model" ignores its source: a well-formed
# output (the prompt has no format validator) that keeps nothing of the document. Four words only: five words
# of the prompt's own text would be refused first, by the contract's `echo` rule (postprocess/echo.py).
IGNORES_SOURCE = """name: ignores_source
family: test
intent: A model that writes about something else (tests only).
template: |-
  {document}

  Document:
  Bananas ripen quickly everywhere.
contract:
  min_length_ratio: 0.05
  max_length_ratio: 10
"""




def test_try_shows_fail_with_the_floor_rule_when_the_output_keeps_nothing_of_the_source(
        tmp_path, monkeypatch, capsys, fake_server) -> None:
    url = fake_server()
    prompt = tmp_path / "ignores_source.yaml"
    prompt.write_text(IGNORES_SOURCE, encoding="utf-8")
    src = tmp_path / "docs.jsonl"
    src.write_text(json.dumps({"id": "d1", "text": "The Rhine flows from the Swiss Alps to the North Sea through "
                                                   "Germany and the Netherlands."}) + "\n", encoding="utf-8")
    base = ["--source", str(src), "--engine", "openai", "--base-url", url, "--model", "fake-model",
            "--max-tokens", "200", "--workdir", str(tmp_path / "try")]
    code, out, err = run_cli(monkeypatch, capsys, "try", str(prompt), *base)
    assert code == 0, err
    assert re.search(r"\[1/1\] d1  fail", out), out
    assert "pass" not in re.findall(r"\[1/1\] d1  (\w+)", out)
    assert "faithfulness:content_recall" in out and "content recall 0.00" in out
    assert "0 of 1 pass" in out and "1 well-formed output(s) turned down by the content floor" in out
    # the same output with the floor switched off: the format alone passes it
    cfg = tmp_path / "floor_off.yaml"
    cfg.write_text("postprocess:\n  floor: 'off'\n", encoding="utf-8")
    code, out, err = run_cli(monkeypatch, capsys, "try", str(prompt), "--config", str(cfg), *base)
    assert code == 0, err
    assert re.search(r"\[1/1\] d1  pass", out), out
