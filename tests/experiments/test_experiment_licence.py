"""A grid's rows keep the source's licence and attribution, so the card of a grid's data names them."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import ECHO_PROMPT, read_rows
from rephraser.config import validate
from rephraser.experiments.cells import expand, unique_stages
from rephraser.experiments.config import ExperimentConfig
from rephraser.experiments.stages import run_stage
from rephraser.records import source_license
from rephraser.report.card import build_card


def test_a_grid_generate_stage_keeps_the_source_licence(tmp_path: Path, fake_server) -> None:
    cfg = validate({
        "name": "lic", "output": str(tmp_path / "out"), "prompts": [ECHO_PROMPT],
        "generators": {"fake": {"engine": {"kind": "openai", "base_url": fake_server(), "model": "fake-model"}}},
        "sources": {"wiki": {"source": {"limit": 12}, "rephrase_docs": 3}},  # the embedded CC BY-SA extracts
        "generation": {"sampling": {"max_tokens": 400}},
        "mix": {"ratios": [0.5], "tokens": 1000}, "seeds": [0], "train": {"preset": "tiny-1m", "steps": 1},
    }, ExperimentConfig)
    stages = {s.kind: s for s in unique_stages(expand(cfg))}
    out = Path(cfg.output)
    run_stage(stages["source"], cfg, out, log=lambda *_: None)
    run_stage(stages["generate"], cfg, out, log=lambda *_: None)
    rows = read_rows(stages["generate"].dir(out))
    assert rows and all(r["source_metadata"]["license"] == "CC BY-SA 4.0" for r in rows)  # top level, filterable
    card = build_card(stages["generate"].dir(out))
    assert "license: cc-by-sa-4.0" in card and "license: unknown" not in card
    assert "Attribution: Wikipedia contributors" in card
    # and on into the mixture: its manifest says what the mixed rows derive from, per component and in all
    for kind in [d.kind for d in stages["mix"].deps if d.kind != "generate"] + ["mix"]:
        run_stage(stages[kind], cfg, out, log=lambda *_: None)
    manifest = json.loads((stages["mix"].dir(out) / "manifest.json").read_text(encoding="utf-8"))
    assert set(manifest["licenses"]) == {"CC BY-SA 4.0"}
    assert all(set(c["licenses"]) == {"CC BY-SA 4.0"} for c in manifest["components"])


def test_grids_made_before_keep_their_nested_licence_readable() -> None:
    """Source stages of earlier releases wrote the metadata under `meta`; the card still finds it there."""
    assert source_license({"meta": {"license": "CC BY-SA 4.0"}}) == "CC BY-SA 4.0"
    assert source_license({"license": "MIT", "meta": {"license": "x"}}) == "MIT"
