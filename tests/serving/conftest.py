"""Fixtures for the serving tests: one real tiny bundle per session, real apps, real images."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from serving_helpers import ROOT


def build_tiny_bundle(out: Path, size: int = 64, *options: str) -> Path:
    """Run the real tiny-bundle maker in a subprocess (keeps TensorFlow out of this process)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, "-m", "melanoma_exp.export.tiny_bundle", "--out", str(out),
                           "--size", str(size), *options], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory) -> Path:
    """A real bundle (tiny CNN, 64 px) exported by `melanoma_exp.export.tiny_bundle`. Read-only."""
    return build_tiny_bundle(tmp_path_factory.mktemp("tiny_bundle") / "bundle")


@pytest.fixture(scope="session")
def tiny_bundle_ood(tmp_path_factory) -> Path:
    """The tiny bundle with the not-a-lesion check (``ood.tflite``, model.json ``ood``). Read-only."""
    return build_tiny_bundle(tmp_path_factory.mktemp("tiny_bundle_ood") / "bundle", 64, "--ood")


@pytest.fixture(scope="session")
def make_client(tiny_bundle):
    """Factory: a TestClient around a real app built on the tiny bundle with given settings."""
    from fastapi.testclient import TestClient

    from serving.app import create_app
    from serving.settings import Settings

    def factory(**overrides):
        settings = Settings(**{"bundle_dir": tiny_bundle, **overrides})
        return TestClient(create_app(settings), raise_server_exceptions=False)

    return factory


@pytest.fixture(scope="session")
def client(make_client):
    """The default app: no API key, no CORS, 15 MB body limit."""
    return make_client()


# Headless Chromium for the browser-page tests, driven by Selenium through Debian's chromedriver.
CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage"]
BROWSER_WAIT_S = 60  # every wait on the page is bounded by this (Selenium's own HTTP calls by 120 s)


@pytest.fixture
def browser(tmp_path):
    """A Selenium ``webdriver.Chrome`` on headless Chromium with a fresh profile under ``tmp_path``.

    Uses the ``chromium`` and ``chromedriver`` found on PATH (Selenium Manager never runs, so nothing
    is downloaded); fails (not skips) with the install command when either is missing.
    """
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    tools = {name: shutil.which(name) for name in ("chromium", "chromedriver")}
    missing = [name for name, path in tools.items() if path is None]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not found on PATH: the browser tests need Debian's Chromium and "
                    "its chromedriver; install them with `apt-get install chromium chromium-driver` "
                    "(or run `bash .ci/system-deps.sh` as root)", pytrace=False)
    options = Options()
    options.binary_location = tools["chromium"]
    for flag in [*CHROME_FLAGS, f"--user-data-dir={tmp_path / 'chrome-profile'}"]:
        options.add_argument(flag)
    service = Service(executable_path=tools["chromedriver"], log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(options=options, service=service)
    try:
        driver.set_page_load_timeout(BROWSER_WAIT_S)
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def page_wait(browser):
    """``WebDriverWait(browser, 60)``: use ``page_wait.until(expected_conditions...)``."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, BROWSER_WAIT_S)


@pytest.fixture
def wait_text(browser, page_wait):
    """``wait_text(css)``: the element's visible text once it is non-empty (waits up to 60 s); on
    timeout fails with what the page's ``#error`` box says."""
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By

    def wait(css: str) -> str:
        try:
            return page_wait.until(lambda driver: driver.find_element(By.CSS_SELECTOR, css).text)
        except TimeoutException:
            error = browser.find_element(By.CSS_SELECTOR, "#error").text
            raise AssertionError(f"{css} stayed empty for {BROWSER_WAIT_S} s; error box says: {error!r}") from None

    return wait
