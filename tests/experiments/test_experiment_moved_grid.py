"""A half-finished grid folder that was moved resumes its generate stage: the stage's run.json recorded its
input (a file inside the grid) under the old root, and the stage follows the move instead of refusing."""

from __future__ import annotations

import shutil

import pytest

from rephraser.config import RunConfig
from rephraser.errors import ResumeError
from rephraser.experiments.stages.generate import follow_moved_grid
from rephraser.run_identity import prepare


def _run(grid, source_key="src1"):
    train = grid / "stages" / "source" / source_key / "train.jsonl"
    train.parent.mkdir(parents=True, exist_ok=True)
    train.write_text('{"id": "a", "text": "one document"}\n')
    return RunConfig.model_validate({"source": {"path": str(train)}, "prompts": ["faq"],
                                     "output": {"dir": str(grid / "stages" / "generate" / "gen1")}})


def test_a_moved_grid_resumes_and_another_input_still_refuses(tmp_path):
    prepare(_run(tmp_path / "old"), {"faq": "h"})
    shutil.move(tmp_path / "old", tmp_path / "new")
    moved = _run(tmp_path / "new")
    with pytest.raises(ResumeError, match="source.path"):  # what the run alone says of a moved folder
        prepare(moved, {"faq": "h"})
    follow_moved_grid(moved, tmp_path / "new")
    prepare(moved, {"faq": "h"})  # the same run now
    other = _run(tmp_path / "new", source_key="src2")  # another source stage's file: another run
    follow_moved_grid(other, tmp_path / "new")
    with pytest.raises(ResumeError, match="source.path"):
        prepare(other, {"faq": "h"})
