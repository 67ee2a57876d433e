"""Headless Chromium for the report tests: Debian's chromium + chromedriver (never a driver download).

Install: apt-get install -y chromium chromium-driver (`make install-browser`); pip install selenium."""

from __future__ import annotations

import os
from pathlib import Path

CHROMIUM = next((p for p in ("/usr/lib/chromium/chromium", "/usr/bin/chromium") if os.path.exists(p)), None)
CHROMEDRIVER = "/usr/bin/chromedriver"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage"]
MISSING = (CHROMIUM is None or not os.path.exists("/usr/bin/chromium")
           or not os.path.exists(CHROMEDRIVER))
WHY_MISSING = "chromium / chromedriver missing (apt-get install -y chromium chromium-driver)"


def start_chrome(profile: Path, window: str = "1280,2000"):
    """A selenium Chrome driver on the local chromium (the caller quits it); skips without selenium."""
    import pytest

    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed (pip install selenium)")
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # selenium-manager must never try to download a driver
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--window-size={window}", f"--user-data-dir={profile}"):
        opts.add_argument(flag)
    drv = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    drv.set_page_load_timeout(120)
    return drv
