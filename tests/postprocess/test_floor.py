"""The content floor: a switch (off / default / custom), calibrated defaults that match their calibration, and
verdicts on real SmolLM2-135M outputs (tests/postprocess/fixtures/floor_outputs.json)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rephraser.config import FloorThresholds, PostprocessConfig, RunConfig
from rephraser.errors import ConfigError
from rephraser.postprocess.contract import apply_contract
from rephraser.postprocess.floor import DEFAULT_FLOOR, effective_limits, floor_for
from rephraser.prompts.registry import resolve_prompt
from rephraser.prompts.spec import PromptSpec

FIXTURES = Path(__file__).parent / "fixtures"
CALIBRATION = Path(__file__).parents[2] / "bench" / "results" / "floor_calibration.json"


def _outputs() -> list[dict]:
    return json.loads((FIXTURES / "floor_outputs.json").read_text(encoding="utf-8"))["records"]


def test_the_switch_picks_no_floor_the_calibrated_one_or_the_configured_one():
    assert floor_for("faq", PostprocessConfig(floor="off")) is None
    assert floor_for("faq", PostprocessConfig()) == DEFAULT_FLOOR.get("faq", DEFAULT_FLOOR["*"])
    assert floor_for("a_users_prompt", PostprocessConfig()) == DEFAULT_FLOOR["*"]
    custom = PostprocessConfig(floor="custom", floor_thresholds={"faq": {"min_content_recall": 0.5},
                                                                 "*": {"max_invented_numbers": 0}})
    assert floor_for("faq", custom) == FloorThresholds(min_content_recall=0.5)
    assert floor_for("table", custom) == FloorThresholds(max_invented_numbers=0)
    with pytest.raises(ConfigError, match="floor=custom needs postprocess.floor_thresholds"):
        _validate({"floor": "custom"})


def _validate(post: dict) -> RunConfig:
    from rephraser.config import validate

    return validate({"postprocess": post}, RunConfig)


def test_every_default_floor_asks_for_some_content_and_equals_its_calibration():
    """DEFAULT_FLOOR is written from bench/bench_floor_calibration.py's result, not typed: a recalibration that
    changes the thresholds must change the code too (and the other way round)."""
    calibrated = {t["prompt"]: FloorThresholds(**{k: v for k, v in t.items() if k != "prompt"})
                  for t in json.loads(CALIBRATION.read_text(encoding="utf-8"))["data"]["thresholds"]}
    assert calibrated == DEFAULT_FLOOR
    assert all((t.min_content_recall or 0) > 0 for t in DEFAULT_FLOOR.values())


def test_a_threshold_of_the_prompt_file_wins_over_the_floor():
    spec = PromptSpec(name="t", family="test", intent="x", template="Rewrite.\n{document}",
                      contract={"min_content_recall": 0.9})
    limits = effective_limits(spec.contract, FloorThresholds(min_content_recall=0.1, max_invented_numbers=2))
    assert limits == {"min_content_recall": 0.9, "max_invented_numbers": 2, "max_invented_entities": None,
                      "max_novelty": None}


def test_real_outputs_that_keep_nothing_of_their_source_are_rejected_with_the_reason():
    """Every real output in the fixture that passes its format contract but shares no content word with its
    source is turned down by the default floor, and the reason says so; with the floor off it passes."""
    seen = 0
    for r in _outputs():
        spec = resolve_prompt(r["prompt"])
        args = {"source_text": r["source_text"], "finish_reason": r["finish_reason"] or "stop"}
        plain = apply_contract(spec, r["raw_generation"] or "", **args)
        if not plain.ok or plain.faithfulness.content_recall != 0:
            continue
        seen += 1
        floored = apply_contract(spec, r["raw_generation"], **args, floor=floor_for(r["prompt"], PostprocessConfig()))
        assert not floored.ok and floored.rule == "faithfulness:content_recall", r["key"]
        assert floored.reason.startswith("faithfulness: content recall 0.00 < min "), floored.reason
    assert seen >= 3  # the fixture holds such outputs (the point of the floor)
