"""What the docs point at exists: repository paths in backticks, relative links and their #anchors.

The drift this catches: a doc (or an error message) naming a test file that moved, a link to a page
section that was renamed or never written.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", REPO / "ARCHITECTURE.md", *sorted((REPO / "docs").glob("*.md"))]
# `src/rephraser/x.py`, `tests/engines/test_y.py`, `bench/z.py`, `examples/a.yaml`, `docs/b.md`
PATH = re.compile(r"`((?:src|tests|bench|examples|docs|scripts)/[A-Za-z0-9_./\-]+?)(?:[:`#\s]|::)")
FILE_SUFFIXES = (".py", ".md", ".yaml", ".yml", ".json", ".jsonl", ".csv", ".sh", ".toml", ".txt", ".png", "/")
LINK = re.compile(r"\]\(([^)\s]+)\)")
# Paths a doc names on purpose although they do not exist, with why.
ABSENT_ON_PURPOSE = {"bench/prompts/": "results.md: the exemplar prompts bench_constrained would read are not written yet"}
# Links to sections announced but not written yet (by work landing in parallel), with why; remove an entry
# once its section exists.
PENDING_LINKS: dict[str, str] = {}  # links to sections not written yet: "target": "why"


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found = set()
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and line.startswith("#"):
            found.add(slug(line.lstrip("#")))
    return found


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_named_repository_paths_exist(doc):
    text = doc.read_text(encoding="utf-8")
    missing = sorted({m for m in PATH.findall(text)
                      if m.endswith(FILE_SUFFIXES) and not any(c in m for c in "<>*{}") and m not in ABSENT_ON_PURPOSE
                      and not (REPO / m.rstrip("/.")).exists()})
    assert not missing, f"{doc.name} names paths that do not exist: {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_relative_links_and_anchors_resolve(doc):
    broken = []
    for target in LINK.findall(doc.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target):  # http(s), mailto: not ours to check
            continue
        file, _, anchor = target.partition("#")
        path = (doc.parent / file).resolve() if file else doc
        ok = path.exists() and not (anchor and path.suffix == ".md" and anchor not in anchors(path))
        if not ok and target not in PENDING_LINKS:
            broken.append(target)
    assert not broken, f"{doc.name}: broken links {broken}"


def test_error_messages_name_test_files_that_exist():
    """A hint in the code that points a user at a test file (e.g. the vLLM install hint) must stay true."""
    named = set()
    for src in (REPO / "src").rglob("*.py"):
        named |= set(re.findall(r"tests/[a-z_/]+\.py", src.read_text(encoding="utf-8")))
    assert named, "expected at least the vLLM hint to name a test file"
    assert not sorted(p for p in named if not (REPO / p).exists())
