"""Commands print at the terminal's width on a terminal and width-free (plain, nothing folded) when piped;
`prompts show` prints a grammar as the grammar text it is."""

from __future__ import annotations

import sys

from rephraser.cli import main
from rephraser.commands._console import PIPE_WIDTH, console, is_plain
from rephraser.records import Row, rows_to_table


def _run(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["rephraser", *args])
    try:
        main()
        code = 0
    except SystemExit as e:
        code = int(e.code or 0)
    out, err = capsys.readouterr()
    return code, out + err


def test_piped_output_has_no_width_and_columns_sets_one(monkeypatch):
    monkeypatch.delenv("COLUMNS", raising=False)
    piped = console()  # pytest's stdout is not a terminal
    assert is_plain(piped) and piped.width == PIPE_WIDTH and piped.no_color
    monkeypatch.setenv("COLUMNS", "97")
    assert console().width == 97 and not is_plain(console())


def test_stats_piped_keeps_a_long_reason_on_one_line(tmp_path, monkeypatch, capsys):
    import pyarrow.parquet as pq

    reason = "the output repeats the question block instead of answering it " * 5  # ~320 characters
    rows = [Row(id=f"r{i}", prompt="faq", status="rejected", source_text="x" * 80, generation="Q: a?",
                raw_generation="Q: a?", reason=reason.strip(), finish_reason="stop") for i in range(2)]
    rows.append(Row(id="ok", prompt="faq", status="ok", source_text="x" * 80, generation="Q: a?\nA: b.\nQ: c?\nA: d.",
                    raw_generation="Q: a?\nA: b.\nQ: c?\nA: d.", finish_reason="stop"))
    (tmp_path / "run" / "rejected" / "faq").mkdir(parents=True)
    (tmp_path / "run" / "data" / "faq").mkdir(parents=True)
    (tmp_path / "run" / "config.yaml").write_text("prompts: [faq]\n")
    pq.write_table(rows_to_table(rows[:2]), tmp_path / "run" / "rejected" / "faq" / "s00000-of-00001-part-00000.parquet")
    pq.write_table(rows_to_table(rows[2:]), tmp_path / "run" / "data" / "faq" / "s00000-of-00001-part-00000.parquet")
    monkeypatch.delenv("COLUMNS", raising=False)
    code, out = _run(monkeypatch, capsys, "stats", str(tmp_path / "run"), "--no-quality")
    assert code == 0, out
    assert any(reason.strip() in line for line in out.splitlines())  # not folded at 200 (or any) columns
    assert "* over fewer than 30 outputs: a hint, not a measurement" in out  # 1 output: its diversity is a hint
    monkeypatch.setenv("COLUMNS", "100")
    code, out = _run(monkeypatch, capsys, "stats", str(tmp_path / "run"), "--no-quality")
    assert code == 0 and max(len(line) for line in out.splitlines()) <= 100


def test_prompts_show_prints_the_grammar_as_grammar_text(monkeypatch, capsys):
    monkeypatch.delenv("COLUMNS", raising=False)
    code, out = _run(monkeypatch, capsys, "prompts", "show", "table")
    assert code == 0, out
    lines = out.splitlines()
    assert "    grammar: |" in lines and "{'grammar'" not in out and "\\n" not in out.split("grammar: |")[1][:200]
    assert any(line.strip().startswith("root ::= ") for line in lines)  # one rule per line, as in the file
    assert "╭" not in out and "--- rendered prompt (one user message) ---" in out
