"""The content floor: faithfulness thresholds a row must meet on top of its prompt's format contract.

A row is ok only when it has the requested shape AND keeps enough of its source: some of the source's
content words (content recall), few numbers and names the source does not have. The thresholds are a
switch of the run config (`postprocess.floor`), so a grid can compare them:

- off: format only (every run before the floor existed judged this way);
- default: DEFAULT_FLOOR below, calibrated per prompt on hand-labelled real outputs of the shipped
  SmolLM2-135M (tests/postprocess/fixtures/floor_*.json; bench/bench_floor_calibration.py recomputes
  them and its precision/recall against the labels; a test keeps this table equal to its result);
- custom: `postprocess.floor_thresholds`, per prompt name with '*' for the others.

A threshold the prompt file sets in its own contract wins over the floor's (the prompt's author chose
it). The study found that messy outputs still help a proxy model, so the floor is a hypothesis to test
in a grid, not a truth: the proxy decides.
"""

from __future__ import annotations

from rephraser.config import FloorThresholds, PostprocessConfig

THRESHOLD_FIELDS = ("max_invented_numbers", "max_invented_entities", "min_content_recall", "max_novelty")
# Written from bench/results/floor_calibration.json (the calibration's chosen thresholds); '*' is the
# calibration over every labelled prompt together, for prompts that were not labelled themselves.
DEFAULT_FLOOR: dict[str, FloorThresholds] = {
    "faq": FloorThresholds(min_content_recall=0.05, max_invented_entities=2),
    "table": FloorThresholds(min_content_recall=0.01, max_invented_numbers=6, max_invented_entities=1),
    "*": FloorThresholds(min_content_recall=0.05, max_invented_entities=2),
}


def floor_for(prompt: str, post: PostprocessConfig) -> FloorThresholds | None:
    """The floor's thresholds for one prompt under the run's postprocess settings (None: no floor)."""
    if post.floor == "off":
        return None
    table = DEFAULT_FLOOR if post.floor == "default" else post.floor_thresholds
    return table.get(prompt) or table.get("*")


def effective_limits(contract: object, floor: FloorThresholds | None) -> dict[str, float | int | None]:
    """Each threshold: the prompt contract's own when it sets one, else the floor's."""
    out: dict[str, float | int | None] = {}
    for name in THRESHOLD_FIELDS:
        own = getattr(contract, name, None)
        out[name] = own if own is not None else (getattr(floor, name) if floor is not None else None)
    return out
