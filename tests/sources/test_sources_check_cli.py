"""`rephraser source check` and the summary behind it."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from rephraser.config import SourceConfig
from rephraser.sources.summary import reason_kind, summarize_source


def test_reason_kind_groups_details():
    assert reason_kind("document too long: 5,000,000 chars > max_chars 2,000,000") == "document too long"
    assert reason_kind("invalid UTF-8 at byte 26") == "invalid UTF-8 at byte N"
    assert reason_kind("duplicate id (first at a.jsonl:3)") == "duplicate id"
    assert reason_kind("text is not a string (got number)") == "text is not a string"


def test_summary_counts_documents_and_reasons(corpus):
    recs = [{"id": i, "text": "x" * (i + 1)} for i in range(10)] + [{"id": 99, "text": ""}, {"id": 98}]
    path = corpus.jsonl("s.jsonl", recs)
    s = summarize_source(SourceConfig(path=str(path), max_chars=8))
    assert (s.documents, s.rejected) == (8, 4)
    assert s.total_chars == sum(range(1, 9)) and s.max_chars == 8
    assert s.reasons == {"document too long": 2, "empty text": 1, "missing text column 'text'": 1}
    assert s.examples["empty text"] == f"{path}:11: empty text"
    assert s.description == "1 file, jsonl"


def test_cli_check_prints_summary(corpus):
    from rephraser.cli import app

    path = corpus.raw("c.jsonl", b'{"id": "a", "text": "hello"}\n{"id": "b", "text": " "}\n')
    result = CliRunner().invoke(app, ["source", "check", str(path)])
    assert result.exit_code == 0, result.output
    assert "source: 1 file, jsonl" in result.output
    assert "documents: 1 (chars: mean 5, max 5)" in result.output
    assert "rejected: 1" in result.output
    assert f"whitespace-only text   e.g. {path}:2: whitespace-only text" in result.output


def test_cli_check_unreadable_is_one_line_error(corpus):
    missing = corpus.root / "missing"
    proc = subprocess.run(
        [sys.executable, "-c", "from rephraser.cli import main; main()", "source", "check", str(missing)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"error: source path not found: {missing}"
