"""The library's log lines: how the CLI shows them, and one line per job (not per rank) under torchrun."""

from __future__ import annotations

import logging

import pytest

from rephraser import logs


@pytest.fixture
def shown(capsys):
    """Configure as the CLI does; yield a reader of what reached stderr; restore the suite's handler after."""
    logs.configure()
    yield lambda: capsys.readouterr().err
    logs.configure()


def test_lines_read_as_before_prefixed_by_level_and_scrubbed(shown, monkeypatch):
    monkeypatch.setenv("REPHRASER_TEST_TOKEN", "sk-secret-value-123456")
    from rephraser.redact import register_env

    register_env("REPHRASER_TEST_TOKEN")
    log = logs.get_logger("rephraser.routing.scores")
    log.info("routing scores: 3 documents")
    log.warning("cache failed with sk-secret-value-123456")
    log.error("gave up")
    lines = shown().splitlines()
    assert lines[0] == "routing scores: 3 documents"
    assert lines[1].startswith("warning: cache failed with ") and "sk-secret-value-123456" not in lines[1]
    assert lines[2] == "error: gave up"


def test_every_name_lives_under_the_rephraser_tree():
    assert logs.get_logger("rephraser.train.loop").name == "rephraser.train.loop"
    assert logs.get_logger("scripts.bench").name == "rephraser.scripts.bench"
    assert logs.get_logger("rephraser").parent is logging.getLogger()


def test_a_warning_level_hides_progress_lines(shown):
    logs.configure(level=logging.WARNING)
    logs.get_logger(__name__).info("progress")
    logs.get_logger(__name__).warning("kept")
    assert shown() == "warning: kept\n"


@pytest.mark.parametrize("rank, expected", [("0", "step 10\nwarning: slow disk\n"),
                                            ("3", "[rank 3] warning: slow disk\n")])
def test_under_torchrun_only_rank_zero_logs_progress(shown, monkeypatch, rank, expected):
    monkeypatch.setenv("RANK", rank)
    logs.configure()  # reads the rank, as the CLI does at start in every torchrun process
    logs.get_logger(__name__).info("step 10")
    logs.get_logger(__name__).warning("slow disk")
    assert shown() == expected


def test_configuring_twice_keeps_one_handler(shown):
    logs.configure()
    logs.configure()
    logs.get_logger(__name__).warning("once")
    assert shown() == "warning: once\n"


def test_lines_go_through_a_given_console():
    class Console:
        def __init__(self) -> None:
            self.lines: list[str] = []

        def print(self, text: str, **_: object) -> None:
            self.lines.append(text)

    console = Console()
    try:
        logs.configure(console)
        logs.get_logger(__name__).info("through rich")
    finally:
        logs.configure()
    assert console.lines == ["through rich"]


# The one library module that prints: a child process whose stdout is its answer (one JSON line) to the doctor.
PRINTS_BY_DESIGN = {"engines/llamacpp_probe.py"}


def test_library_code_never_prints():
    """Only commands/ and cli.py talk to the user; every other module logs (ARCHITECTURE.md, house rules)."""
    import ast
    from pathlib import Path

    src = Path(logs.__file__).parent
    bad = []
    for f in sorted(src.rglob("*.py")):
        rel = f.relative_to(src).as_posix()
        if rel.startswith("commands/") or rel in {"cli.py", "logs.py", *PRINTS_BY_DESIGN}:
            continue
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                bad.append(f"{rel}:{node.lineno}")
    assert not bad, "log through rephraser.logs.get_logger(__name__) instead of print():\n" + "\n".join(bad)
