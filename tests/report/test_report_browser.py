"""The report in a real headless Chromium: the viewer renders, filters, paginates; the page is not blank.

Two drivers: Chromium's own --dump-dom/--screenshot (needs only the browser) and selenium for clicks and
typing (uses /usr/bin/chromedriver via an explicit Service path, never a driver download).
Install: apt-get install -y chromium chromium-driver; pip install selenium.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from helpers.browser import CHROMEDRIVER, CHROMIUM, start_chrome
from helpers.browser import FLAGS as BROWSER_FLAGS
from rephraser.report.html import write_report

FLAGS = [*BROWSER_FLAGS, "--window-size=1280,2000"]

pytestmark = pytest.mark.skipif(CHROMIUM is None or not os.path.exists("/usr/bin/chromium"),
                                reason="/usr/bin/chromium missing (apt-get install -y chromium chromium-driver)")

PLAN = {"faq": {"ok": 40, "rejected": 8}, "table": {"ok": 30, "rejected": 12, "failed": 5}}  # 95 rows
PAGE = 25


@pytest.fixture
def report(tmp_path: Path, make_run) -> Path:
    run = make_run(tmp_path / "run", PLAN)
    return write_report(run, tmp_path / "report.html", page_size=PAGE)


def distinct_colours(png: bytes) -> int:
    from PIL import Image  # Pillow ships with matplotlib

    img = Image.open(io.BytesIO(png)).convert("RGB")
    return len(img.getcolors(maxcolors=1 << 24) or [])


def test_dump_dom_and_screenshot(report: Path, tmp_path: Path) -> None:
    profile = tmp_path / "profile"
    url = report.resolve().as_uri()
    dom = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--virtual-time-budget=3000",
                          "--dump-dom", url], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    rendered = re.findall(r'<div class="vrow status-(\w+)" data-prompt="(\w+)"', dom.stdout)
    assert len(rendered) == PAGE, "the first page should hold exactly one page of rows"
    assert "page 1 of 4" in dom.stdout and "95 of 95 rows" in dom.stdout
    shot = tmp_path / "shot.png"
    res = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}2", "--virtual-time-budget=3000",
                          f"--screenshot={shot}", url], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and shot.exists(), res.stderr[-2000:]
    assert distinct_colours(shot.read_bytes()) > 200, "screenshot looks blank"


@pytest.fixture
def driver(tmp_path: Path):
    if not os.path.exists(CHROMEDRIVER):
        pytest.skip(f"{CHROMEDRIVER} missing (apt-get install -y chromium-driver)")
    drv = start_chrome(tmp_path / "selenium-profile")
    try:
        yield drv
    finally:
        drv.quit()
        shutil.rmtree(tmp_path / "selenium-profile", ignore_errors=True)


def test_viewer_interaction(report: Path, driver) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver.get(report.resolve().as_uri())
    body = driver.find_element(By.TAG_NAME, "body")
    rows = lambda: driver.find_elements(By.CSS_SELECTOR, "#viewer-rows .vrow")  # noqa: E731
    assert len(rows()) == PAGE and body.get_attribute("data-viewer-hits") == "95"

    # pagination moves to different rows; the last page holds the remainder
    first_ids = [r.get_attribute("data-id") + r.get_attribute("data-prompt") for r in rows()]
    driver.find_element(By.ID, "v-next").click()
    assert body.get_attribute("data-viewer-page") == "2"
    assert [r.get_attribute("data-id") + r.get_attribute("data-prompt") for r in rows()] != first_ids
    for _ in range(2):
        driver.find_element(By.ID, "v-next").click()
    assert body.get_attribute("data-viewer-page") == "4" and len(rows()) == 95 - 3 * PAGE
    assert not driver.find_element(By.ID, "v-next").is_enabled()

    # filter by prompt: counts follow the plan and every shown row is of that prompt
    Select(driver.find_element(By.ID, "f-prompt")).select_by_value("faq")
    assert body.get_attribute("data-viewer-hits") == "48" and body.get_attribute("data-viewer-page") == "1"
    assert {r.get_attribute("data-prompt") for r in rows()} == {"faq"}
    Select(driver.find_element(By.ID, "f-status")).select_by_value("rejected")
    assert body.get_attribute("data-viewer-hits") == "8" and len(rows()) == 8
    assert {r.get_attribute("data-status") for r in rows()} == {"rejected"}
    assert "fewer than 2 question-answer pairs" in rows()[0].text

    # free-text search (debounced) over source, rewrite, reason and id
    Select(driver.find_element(By.ID, "f-prompt")).select_by_value("")
    Select(driver.find_element(By.ID, "f-status")).select_by_value("")
    driver.find_element(By.ID, "f-query").send_keys("timeout after")
    from selenium.webdriver.support.wait import WebDriverWait

    WebDriverWait(driver, 10).until(lambda d: body.get_attribute("data-viewer-hits") == "5")
    assert {r.get_attribute("data-status") for r in rows()} == {"failed"}

    # clicking a document id shows every rewrite of that document
    driver.find_element(By.ID, "f-query").clear()
    driver.execute_script("document.getElementById('f-query').dispatchEvent(new Event('input'))")
    WebDriverWait(driver, 10).until(lambda d: body.get_attribute("data-viewer-hits") == "95")
    target = rows()[0].get_attribute("data-id")
    rows()[0].find_element(By.CSS_SELECTOR, "a.docfilter").click()
    assert {r.get_attribute("data-id") for r in rows()} == {target}
    assert distinct_colours(driver.get_screenshot_as_png()) > 200
