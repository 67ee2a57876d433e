"""run_identity.py: a prompt file enters a run's identity by the name it declares and its content, never
by where the file sits, and a run.json written when it entered by path still resumes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from rephraser.config import RunConfig
from rephraser.errors import ResumeError
from rephraser.prompts.registry import prompt_ids, resolve_prompts
from rephraser.run_identity import prepare


def _start(tmp_path: Path, ref: str, *, by_path: bool = False) -> dict:
    cfg = RunConfig.model_validate({"prompts": [ref, "faq"], "output": {"dir": str(tmp_path / "out")},
                                    "routing": {"routes": [{"name": "r", "when": {"numbers": 1}, "prompts": [ref]}],
                                                "default": {"prompts": ["faq"]}}})
    specs = resolve_prompts(cfg.prompts)
    ids = None if by_path else prompt_ids(cfg.prompts, specs)  # by_path: what run.json held before
    prepare(cfg, {p.name: p.hash for p in specs}, prompt_ids=ids)
    return json.loads((tmp_path / "out" / "run.json").read_text())


def test_a_moved_prompt_file_is_the_same_run_and_an_edited_one_is_not(tmp_path):
    first = tmp_path / "checkout1" / "prompts"
    first.mkdir(parents=True)
    (first / "mine.yaml").write_text(yaml.safe_dump({"name": "mine", "family": "t", "version": "1", "intent": "x",
                                                     "template": "Say this again plainly.\n\n{document}"}))
    second = tmp_path / "checkout2" / "prompts"
    shutil.copytree(first, second)
    old = _start(tmp_path, str(first / "mine.yaml"), by_path=True)  # a folder written before the fix
    moved = _start(tmp_path, str(second / "mine.yaml"))  # the same prompt from another checkout resumes
    assert moved["outcome_fields"]["prompts"] == ["file:mine", "faq"]
    assert moved["outcome_fields"]["routing"]["routes"][0]["prompts"] == ["file:mine"]
    assert _start(tmp_path, str(first / "mine.yaml"))["fingerprint"] == moved["fingerprint"] != old["fingerprint"]
    (second / "mine.yaml").write_text((second / "mine.yaml").read_text().replace("plainly", "briefly"))
    with pytest.raises(ResumeError, match="prompt mine edited"):
        _start(tmp_path, str(second / "mine.yaml"))
