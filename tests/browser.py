"""Headless Chromium for the tests that look at pages as a person would (Debian's
``chromium`` and ``chromium-driver``, driven by selenium); skipped where either is missing."""

import os
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
BASE_ARGUMENTS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--window-size=1280,1800",
)


def chromium(*arguments: str, prefs: dict | None = None, capabilities: dict | None = None):
    """A headless Chromium driver with ``arguments`` beside the base ones (the caller quits
    it); ``pytest.skip`` where the browser, its driver or selenium is missing."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed")
    if not (os.path.exists(CHROMIUM) and os.path.exists(CHROMEDRIVER)):
        pytest.skip("chromium and chromedriver are needed (apt-get install chromium-driver)")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for argument in (*BASE_ARGUMENTS, *arguments):
        options.add_argument(argument)
    if prefs:
        options.add_experimental_option("prefs", prefs)
    for name, value in (capabilities or {}).items():
        options.set_capability(name, value)
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
