"""Figures in the docs are rendered from the measurement files in bench/results, never typed by hand.

The first test is the guard: a doc whose generated block differs from its figure file fails here (fix:
`.venv/bin/python bench/render_docs.py`). The others check the renderer itself on small made-up files.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))

from figures import FigureError, render_view, write_figure  # noqa: E402
from render_docs import render_text  # noqa: E402


def test_docs_match_their_figures():
    r = subprocess.run([sys.executable, str(REPO / "bench" / "render_docs.py"), "--check"],
                       capture_output=True, text=True, cwd=REPO, timeout=120)
    assert r.returncode == 0, r.stderr


def test_every_figure_file_renders_and_is_used():
    """Each bench/results/*.json is a valid figure; each one is shown somewhere (else it is dead data)."""
    from figures import load_figure
    from render_docs import doc_paths

    docs = "".join(p.read_text(encoding="utf-8") for p in doc_paths(REPO))
    for path in sorted((REPO / "bench" / "results").glob("*.json")):
        fig = load_figure(path.stem)
        for view in fig["views"]:
            render_view(fig, view)
        assert f"<!-- generated: {path.stem}/" in docs, f"{path.name} is rendered in no doc"


@pytest.fixture
def results(tmp_path) -> Path:
    write_figure("speed", {"rows": [{"engine": "a", "tok_s": 61.234}, {"engine": "b", "tok_s": None}], "total": 3},
                 {"table": {"rows": "rows", "columns": [["engine", "{engine}"], ["tok/s ({total} runs)", "{tok_s:.1f}"]]},
                  "line": {"text": "{total} runs on {measured}"}},
                 how="bench/x.py --n 3", where="2 cores", measured="2026-12-01", results=tmp_path)
    return tmp_path


def test_block_and_inline_render(results):
    doc = ("# T\n<!-- generated: speed/table -->\nold\n<!-- /generated -->\n"
           "We ran <!-- generated: speed/line -->2 runs<!-- /generated --> here.\n")
    new, changed = render_text(doc, "t.md", results)
    assert changed == ["t.md:2 speed/table", "t.md:5 speed/line"]
    assert "| engine | tok/s (3 runs) |\n|---|---|\n| a | 61.2 |\n| b | – |\n" in new  # None -> –
    assert "measured 2026-12-01 by `bench/x.py --n 3` (2 cores)" in new
    assert "We ran <!-- generated: speed/line -->3 runs on 2026-12-01<!-- /generated --> here." in new
    assert render_text(new, "t.md", results) == (new, [])  # rendering is idempotent: --check passes after it


def test_hand_recorded_figures_say_so(results):
    fig = json.loads((results / "speed.json").read_text())
    fig["recorded"] = "hand"
    (results / "speed.json").write_text(json.dumps(fig))
    new, _ = render_text("<!-- generated: speed/table -->\n<!-- /generated -->", "t.md", results)
    assert "Hand-recorded reading of 2026-12-01" in new and "the raw measurement was not kept" in new


@pytest.mark.parametrize("doc, message", [
    ("<!-- generated: nope/table -->\n<!-- /generated -->", "t.md:1: no figure 'nope'"),
    ("<!-- generated: speed/pie -->\n<!-- /generated -->", "t.md:1: figure speed has no view 'pie'"),
    ("x\n<!-- generated: speed/table -->\nno end", "t.md:2: <!-- generated: speed/table --> has no <!-- /generated -->"),
    ("<!-- generated: speed -->x<!-- /generated -->", "t.md:1: write the marker as"),
    ("text\n<!-- /generated -->", "t.md:2: <!-- /generated --> without an opening marker"),
])
def test_malformed_docs_are_one_line_errors(results, doc, message):
    with pytest.raises(FigureError) as e:
        render_text(doc, "t.md", results)
    assert str(e.value).startswith(message) and "\n" not in str(e.value)


def test_a_template_naming_a_missing_field_is_refused_when_written(tmp_path):
    with pytest.raises(FigureError, match="speed/line: template '{nope}' fails"):
        write_figure("speed", {}, {"line": {"text": "{nope}"}}, how="x", where="y", results=tmp_path)
    assert not (tmp_path / "speed.json").exists()


@pytest.mark.parametrize("grid", ["mini_ablation", "finephrase", "assumptions"])
def test_plan_figures_are_what_the_dry_run_computes_today(grid):
    """The example grids' plans in the docs follow the code: a changed estimate fails here until
    `bench/plan_figures.py` is rerun (and the docs re-rendered)."""
    from figures import load_figure
    from plan_figures import compute

    stored = load_figure(f"plan_{grid}")["data"]
    if grid == "assumptions":
        from plan_figures import assumptions

        assert assumptions() == stored, "rerun .venv/bin/python bench/plan_figures.py assumptions"
        return
    now = json.loads(json.dumps(compute(grid)))  # the same JSON round trip as the file
    assert _close(now, stored), \
        f"bench/results/plan_{grid}.json is stale: rerun .venv/bin/python bench/plan_figures.py {grid}"


def _close(a, b) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, float) and isinstance(b, (int, float)):
        return abs(a - b) <= 1e-9 * max(1.0, abs(b))
    return a == b


def test_quoted_markers_are_left_alone(results):
    doc = "write `<!-- generated: NAME/VIEW -->` … `<!-- /generated -->` around it\n"
    assert render_text(doc, "t.md", results) == (doc, [])
