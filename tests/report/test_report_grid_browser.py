"""The experiment report of a real small grid (fake OpenAI server, tiny-1m proxy, 4 steps) in headless Chromium:
the table's t column and beyond-noise marker, the ratio plot only for a two-ratio grid, each cell's link
to the viewer of its rows, and tick labels that do not overlap as the browser lays them out."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml

from helpers import ECHO_PROMPT, spawn_fake
from helpers.browser import MISSING, WHY_MISSING, start_chrome
from rephraser.report.html import write_report

pytestmark = pytest.mark.skipif(MISSING, reason=WHY_MISSING)


def _grid_config(tmp: Path, url: str, ratios: list[float]) -> Path:
    corpus = tmp / "corpus.jsonl"
    if not corpus.exists():
        with open(corpus, "w", encoding="utf-8") as f:
            for i in range(60):
                words = " ".join(f"word{(i * 7 + j) % 97}" for j in range(30 + i % 30))
                f.write(json.dumps({"id": f"doc-{i:05d}", "text": f"Document {i} says {i * 3} apples. {words}."}) + "\n")
    cfg = {"name": "tiny", "output": str(tmp / "grid"), "prompts": [ECHO_PROMPT],
           "generators": {"fake": {"engine": {"kind": "openai", "base_url": url, "model": "fake-model"}}},
           "sources": {"docs": {"source": {"path": str(corpus)}, "rephrase_docs": 30}},
           "generation": {"sampling": {"max_tokens": 64}},
           "mix": {"ratios": ratios, "tokens": 20000}, "seeds": [0, 1], "tokenizer": {"vocab_size": 400},
           "train": {"preset": "tiny-1m", "steps": 4, "batch_size": 4, "seq_len": 64, "eval_every": 2, "log_every": 2},
           "eval": {"tasks": ["arc_easy", "table_qa_lookup"], "max_items": 4, "num_fewshot": 1, "heldout_docs": 20,
                    "heldout_fraction": 0.1}}
    path = tmp / f"grid-{len(ratios)}.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def reports(tmp_path_factory) -> dict[str, Path]:
    """{"two": report of a two-ratio grid, "one": the same grid with one ratio (every stage reused)}."""
    from rephraser.config import load_yaml
    from rephraser.experiments.config import ExperimentConfig
    from rephraser.experiments.execute import run_grid

    tmp = tmp_path_factory.mktemp("grid")
    proc, port = spawn_fake()
    try:
        url = f"http://127.0.0.1:{port}"
        run_grid(load_yaml(_grid_config(tmp, url, [0.5, 1.0]), ExperimentConfig))
        shutil.copytree(tmp / "grid", tmp / "grid-one")
        one = load_yaml(_grid_config(tmp, url, [0.5]), ExperimentConfig)
        run_grid(one, out=tmp / "grid-one")  # all stages cached: only the results change
    finally:
        proc.kill()
        proc.wait(timeout=30)
    return {"two": write_report(tmp / "grid"), "one": write_report(tmp / "grid-one")}


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    drv = start_chrome(tmp_path_factory.mktemp("profile"), window="1400,1800")
    try:
        yield drv
    finally:
        drv.quit()


# Every text of every axis and legend of every inline plot, as the browser lays it out.
TEXT_BOXES_JS = """
const out = [];
for (const fig of document.querySelectorAll('figure.plot')) {
  const groups = [...fig.querySelectorAll('g[id^="matplotlib.axis"], g[id^="legend_"]')];
  for (const g of groups) {
    const boxes = [...g.querySelectorAll('text')].map((t) => {
      const r = t.getBoundingClientRect();
      return {text: t.textContent, box: [r.left, r.top, r.right, r.bottom]};
    }).filter((b) => b.box[2] > b.box[0]);
    out.push({plot: fig.dataset.plot, group: g.id, texts: boxes});
  }
}
return out;
"""


def overlaps(groups: list[dict]) -> list[str]:
    found = []
    for g in groups:
        t = g["texts"]
        for i in range(len(t)):
            for j in range(i + 1, len(t)):
                a, b = t[i]["box"], t[j]["box"]
                if min(a[2], b[2]) - max(a[0], b[0]) > 0.5 and min(a[3], b[3]) - max(a[1], b[1]) > 0.5:
                    found.append(f"{g['plot']}/{g['group']}: {t[i]['text']!r} overlaps {t[j]['text']!r}")
    return found


def _table(driver) -> dict[str, dict[str, str]]:
    from selenium.webdriver.common.by import By

    heads = [h.text.strip() for h in driver.find_elements(By.CSS_SELECTOR, "#results-table thead th")]
    rows = {}
    for tr in driver.find_elements(By.CSS_SELECTOR, "#results-table tr.cell-row"):
        cells = [td.text.strip() for td in tr.find_elements(By.TAG_NAME, "td")]
        rows[tr.get_attribute("data-cell")] = dict(zip(heads, cells, strict=True))
    return rows


def test_two_ratio_grid_report(reports, driver) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select
    from selenium.webdriver.support.wait import WebDriverWait

    page = reports["two"]
    doc = json.loads((page.parent / "results.json").read_text())
    driver.get(page.resolve().as_uri())
    rows = _table(driver)
    assert set(rows) == {"baseline-source_only", "echo/mix50", "echo/mix100"}
    for cell in doc["cells"]:
        row, t, beyond, gap = (rows[cell["cell"]], cell["macro_gap_over_se"], cell["macro_beyond_noise"],
                               cell["macro_gap"])
        if cell["is_baseline"]:
            assert row["noise"] == "reference" and row["t (df)"] == "–"
            continue
        assert row["t (df)"].startswith(f"{t:+.2g}" if abs(t) < 100 else f"{t:+,.0f}")  # the grid's own t
        assert row["noise"] == ("within noise" if not beyond else "▲ beyond noise" if gap > 0 else "▼ beyond noise")
    plots = [f.get_attribute("data-plot") for f in driver.find_elements(By.CSS_SELECTOR, "figure.plot")]
    assert "seed-noise" in plots and "score-vs-share" in plots and "score-vs-generator-size" not in plots

    groups = driver.execute_script(TEXT_BOXES_JS)
    assert sum(len(g["texts"]) for g in groups) > 40, "no axis or legend text found in the inline SVGs"
    assert {g["plot"] for g in groups} >= {"seed-noise", "score-vs-share", "training-curves"}
    assert overlaps(groups) == []

    # each synthetic cell opens the viewer of the rows its mixture took (the generate stage's ok rows)
    gen_dir = next((page.parent / "stages" / "generate").iterdir())
    ok_rows = sum(pq.read_metadata(f).num_rows for f in (gen_dir / "data").glob("*/*.parquet"))
    for cell in ("echo/mix50", "echo/mix100"):
        driver.get(page.resolve().as_uri())
        link = driver.find_element(By.CSS_SELECTOR, f'tr.cell-row[data-cell="{cell}"] a.rows-link')
        link.click()
        WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#viewer-rows .vrow"))
        assert driver.current_url.endswith(f"rows-{gen_dir.name}.html?status=ok#viewer")
        top = driver.execute_script("return document.getElementById('viewer').getBoundingClientRect().top")
        assert abs(top) < 5  # the page opens at the rows, not at the run summary above them
        body = driver.find_element(By.TAG_NAME, "body")
        assert Select(driver.find_element(By.ID, "f-status")).first_selected_option.get_attribute("value") == "ok"
        assert body.get_attribute("data-viewer-hits") == str(ok_rows) and ok_rows > 0
        assert {r.get_attribute("data-status") for r in driver.find_elements(By.CSS_SELECTOR, "#viewer-rows .vrow")} == {"ok"}


def test_one_ratio_grid_has_no_ratio_plot(reports, driver) -> None:
    from selenium.webdriver.common.by import By

    driver.get(reports["one"].resolve().as_uri())
    assert set(_table(driver)) == {"baseline-source_only", "echo/mix50"}
    plots = [f.get_attribute("data-plot") for f in driver.find_elements(By.CSS_SELECTOR, "figure.plot")]
    assert "score-vs-share" not in plots and plots[0] == "seed-noise"
    assert not (reports["one"].parent / "report_files" / "score-vs-share.svg").exists()
    assert overlaps(driver.execute_script(TEXT_BOXES_JS)) == []


def test_overlap_check_finds_crowded_labels(driver, tmp_path) -> None:
    """The check above can fail: forty long tick labels squeezed onto one small axis do overlap."""
    import io

    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(3, 2))
    ax.set_xticks(range(40), [f"label number {i}" for i in range(40)])
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(buf, format="svg")
    plt.close(fig)
    svg = buf.getvalue()
    page = tmp_path / "crowded.html"
    page.write_text(f'<!DOCTYPE html><html><body><figure class="plot" data-plot="crowded">{svg[svg.index("<svg"):]}'
                    "</figure></body></html>", encoding="utf-8")
    driver.get(page.resolve().as_uri())
    assert overlaps(driver.execute_script(TEXT_BOXES_JS))
