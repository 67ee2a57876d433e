"""Rewrite the generated blocks of README.md, ARCHITECTURE.md and docs/*.md from bench/results/*.json.

    .venv/bin/python bench/render_docs.py           # rewrite every block from its figure file
    .venv/bin/python bench/render_docs.py --check   # exit 1 naming each block that differs (what the test runs)

A block is `<!-- generated: FIGURE/VIEW -->` … `<!-- /generated -->` (a marker right after a backtick is
quoted text, like these, and left alone). With a line break right after the
opening marker it is a block (a table and its provenance line); on one line it is inline text. Figure
files and views are described in bench/figures.py. Anything malformed (an unclosed marker, an unknown
figure or view, a template naming a missing field) is one `error:` line and exit 2.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from figures import RESULTS, FigureError, load_figure, render_view

ROOT = Path(__file__).resolve().parent.parent
OPEN = re.compile(r"<!-- generated: ([A-Za-z0-9_.\-]+)/([A-Za-z0-9_.\-]+) -->")
CLOSE = "<!-- /generated -->"
ANY_OPEN = re.compile(r"<!-- generated:")


def doc_paths(root: Path = ROOT) -> list[Path]:
    return [p for p in [root / "README.md", root / "ARCHITECTURE.md", *sorted((root / "docs").glob("*.md"))]
            if p.is_file()]


def _find(text: str, pattern: re.Pattern | str, pos: int) -> tuple[int, int] | None:
    """The next marker at or after pos, as (start, end); one right after a backtick is quoted (docs about
    markers, like the how-to in docs/benchmarks.md) and skipped."""
    rx = pattern if isinstance(pattern, re.Pattern) else re.compile(re.escape(pattern))
    while (m := rx.search(text, pos)) is not None:
        if m.start() == 0 or text[m.start() - 1] != "`":
            return m.start(), m.end()
        pos = m.end()
    return None


def _line(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def render_text(text: str, label: str, results: Path = RESULTS) -> tuple[str, list[str]]:
    """The doc with every block rendered, and the names of the blocks that changed."""
    out: list[str] = []
    changed: list[str] = []
    pos = 0
    cache: dict[str, dict] = {}
    while True:
        m = _find(text, ANY_OPEN, pos)
        stray = _find(text, CLOSE, pos)
        if stray is not None and (m is None or stray[0] < m[0]):
            raise FigureError(f"{label}:{_line(text, stray[0])}: {CLOSE} without an opening marker")
        if m is None:
            out.append(text[pos:])
            return "".join(out), changed
        head = OPEN.match(text, m[0])
        where = f"{label}:{_line(text, m[0])}"
        if head is None:
            raise FigureError(f"{where}: write the marker as <!-- generated: FIGURE/VIEW -->")
        close = _find(text, CLOSE, head.end())
        end = close[0] if close else -1
        nested = _find(text, ANY_OPEN, head.end())
        if end < 0 or (nested is not None and nested[0] < end):
            raise FigureError(f"{where}: <!-- generated: {head[1]}/{head[2]} --> has no {CLOSE} before the next block")
        name, view = head[1], head[2]
        try:
            if name not in cache:
                cache[name] = load_figure(name, results)
            rendered = render_view(cache[name], view)
        except FigureError as e:
            raise FigureError(f"{where}: {e}") from None
        old = text[head.end():end]
        new = f"\n{rendered}\n" if old.startswith("\n") else rendered
        if old != new:
            changed.append(f"{where} {name}/{view}")
        out += [text[pos:head.end()], new, CLOSE]
        pos = end + len(CLOSE)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="change nothing; exit 1 if a block differs from its render")
    args = ap.parse_args(argv)
    stale: list[str] = []
    try:
        for path in doc_paths():
            label = str(path.relative_to(ROOT))
            text = path.read_text(encoding="utf-8")
            new, changed = render_text(text, label)
            stale += changed
            if changed and not args.check:
                from rephraser.atomic import atomic_write_text

                atomic_write_text(path, new)
    except FigureError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.check and stale:
        for s in stale:
            print(f"stale: {s}", file=sys.stderr)
        print(f"error: {len(stale)} generated block(s) differ from their figures; run "
              "`.venv/bin/python bench/render_docs.py` and commit the docs", file=sys.stderr)
        return 1
    print(("rewrote " if stale else "up to date: ") + (", ".join(stale) if stale else "every generated block"),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
