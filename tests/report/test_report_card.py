"""Dataset card: valid YAML front matter, one config per prompt plus `all`, inherited license, stats."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from rephraser.cli import app
from rephraser.report.card import build_card, hf_license_id, license_fields, size_category, write_card
from rephraser.run_folder import RunFolderError


def read_front_matter(text: str) -> dict:
    assert text.startswith("---\n")
    end = text.index("\n---\n", 4)
    return yaml.safe_load(text[4:end])


def test_card_front_matter_lists_every_config(small_run: Path) -> None:
    text = build_card(small_run)
    fm = read_front_matter(text)
    configs = {c["config_name"]: c for c in fm["configs"]}
    assert set(configs) == {"all", "faq", "table"}
    assert configs["all"]["data_files"] == [{"split": "train", "path": "data/*/*.parquet"}]
    assert configs["faq"]["data_files"][0]["path"] == "data/faq/*.parquet"
    assert fm["license"] == "cc-by-sa-4.0"
    assert fm["size_categories"] == ["n<1K"]
    assert "text-generation" in fm["task_categories"]
    # every data_files glob matches real files
    for c in fm["configs"]:
        assert list(small_run.glob(c["data_files"][0]["path"])), c


def test_card_body_has_prompts_stats_and_loading(small_run: Path) -> None:
    text = build_card(small_run, repo="me/my-data")
    assert "### `faq`" in text and "### `table`" in text
    assert "{document}" in text  # the full template is printed
    assert "validator: qa_pairs" in text  # and its contract
    assert "abc123def456" in text  # the hash the rows carry
    # faq: 12 ok + 4 rejected => 75% compliance; totals 21 ok rows
    assert "| faq | 12 | 17 |" in text and "75.0%" in text
    assert "| (all) | 21 |" in text
    assert "fewer than 2 question-answer pairs | 10 |" in text
    assert "timeout after 600s | 1 |" in text
    assert 'load_dataset("me/my-data", name="faq"' in text
    assert 'data_files="data/*/*.parquet"' in text
    assert "Wikipedia contributors" in text
    # faithfulness beside compliance, measured on the rows against their sources
    assert "## Faithfulness" in text and "| prompt | format compliance | content floor pass |" in text


def test_card_license_unknown_and_mixed(tmp_path: Path, make_run) -> None:
    run = make_run(tmp_path / "r", {"faq": {"ok": 3}}, meta={"title": "x"})
    assert read_front_matter(build_card(run))["license"] == "unknown"
    assert license_fields({"CC BY-SA 4.0": 3, "MIT": 1}) == {"license": "other", "license_name": "mixed"}
    assert license_fields({"My Custom License": 2}) == {"license": "other", "license_name": "my-custom-license"}
    assert license_fields({"CC BY-SA 4.0": 3, "unknown": 1})["license"] == "other"
    assert hf_license_id("CC BY-SA 4.0") == "cc-by-sa-4.0" and hf_license_id("apache 2.0") == "apache-2.0"
    assert size_category(999) == "n<1K" and size_category(1000) == "1K<n<10K"


def test_card_prompt_with_brackets_and_fences_stays_valid(small_run: Path) -> None:
    text = build_card(small_run)
    assert text.count("---\n") >= 2
    # every opened fence is closed
    fences = [ln for ln in text.splitlines() if ln.startswith("```")]
    assert len(fences) % 2 == 0


def test_card_cli_writes_readme(small_run: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(app, ["card", str(small_run)])
    assert res.exit_code == 0, res.output
    assert read_front_matter((small_run / "README.md").read_text())["configs"][0]["config_name"] == "all"
    out = tmp_path / "card.md"
    res = CliRunner().invoke(app, ["card", str(small_run), "--output", str(out), "--repo", "me/x"])
    assert res.exit_code == 0 and 'load_dataset("me/x"' in out.read_text()


def test_card_errors_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(RunFolderError, match="not found"):
        build_card(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunFolderError, match="not a rephraser output folder"):
        build_card(tmp_path / "empty")


def test_card_configs_load_with_datasets(tmp_path: Path, make_run) -> None:
    """The real consumer: `datasets` parses the card's configs from a local folder (offline)."""
    datasets = pytest.importorskip("datasets")
    run = make_run(tmp_path / "hf", {"faq": {"ok": 5, "rejected": 2}, "table": {"ok": 3, "failed": 1}})
    write_card(run)
    assert datasets.get_dataset_config_names(str(run)) == ["all", "faq", "table"]
    cache = str(tmp_path / "hf-cache")
    faq = datasets.load_dataset(str(run), name="faq", split="train", cache_dir=cache)
    assert len(faq) == 5 and set(faq["prompt"]) == {"faq"} and set(faq["status"]) == {"ok"}
    assert len(datasets.load_dataset(str(run), split="train", cache_dir=cache)) == 8  # `all` is the default
