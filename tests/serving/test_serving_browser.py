"""The browser page in real headless Chromium (W3C WebDriver via chromedriver): pick a photo, see
the verdict, the percentage, the advice and the disclaimer rendered."""

from __future__ import annotations

import shutil
import subprocess
import time

import pytest
from serving_helpers import encode, free_port, lesion_image, start_uvicorn, wait_http

ELEMENT = "element-6066-11e4-a52e-4f735466cecf"
CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage"]


class WebDriver:
    """Just enough of the W3C WebDriver protocol, spoken to a local chromedriver over HTTP."""

    def __init__(self, base: str, user_data_dir: str):
        import httpx

        self.http = httpx.Client(base_url=base, timeout=60)
        caps = {"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": shutil.which("chromium"), "args": CHROME_FLAGS + [f"--user-data-dir={user_data_dir}"]}}}}
        self.session = self._call("POST", "/session", caps)["sessionId"]

    def _call(self, method: str, path: str, payload: dict | None = None):
        r = self.http.request(method, path, json=payload)
        body = r.json()
        assert r.status_code == 200, body
        return body["value"]

    def go(self, url: str) -> None:
        self._call("POST", f"/session/{self.session}/url", {"url": url})

    def find(self, css: str) -> str:
        return self._call("POST", f"/session/{self.session}/element", {"using": "css selector", "value": css})[ELEMENT]

    def text(self, css: str) -> str:
        return self._call("GET", f"/session/{self.session}/element/{self.find(css)}/text")

    def attribute(self, css: str, name: str):
        return self._call("GET", f"/session/{self.session}/element/{self.find(css)}/attribute/{name}")

    def send_file(self, css: str, path: str) -> None:
        self._call("POST", f"/session/{self.session}/element/{self.find(css)}/value", {"text": path})

    def type_text(self, css: str, text: str) -> None:
        self.send_file(css, text)  # the same WebDriver call types into text inputs

    def displayed(self, css: str) -> bool:
        return self._call("GET", f"/session/{self.session}/element/{self.find(css)}/displayed")

    def quit(self) -> None:
        self.http.request("DELETE", f"/session/{self.session}")
        self.http.close()


@pytest.fixture
def browser(tmp_path):
    port = free_port()
    driver_proc = subprocess.Popen([shutil.which("chromedriver"), f"--port={port}"],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/status", proc=driver_proc)
        driver = WebDriver(f"http://127.0.0.1:{port}", str(tmp_path / "chrome-profile"))
        yield driver
        driver.quit()
    finally:
        driver_proc.terminate()
        driver_proc.wait(timeout=10)


def _wait_text(driver: WebDriver, css: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = driver.text(css)
        if text:
            return text
        time.sleep(0.2)
    raise AssertionError(f"{css} stayed empty; error box says: {driver.text('#error')!r}")


def test_upload_a_photo_and_see_the_verdict(tiny_bundle, tmp_path, browser):
    server, base = start_uvicorn(tiny_bundle, tmp_path / "server")
    try:
        photo = tmp_path / "mole.jpg"
        photo.write_bytes(encode(lesion_image(seed=4)))
        browser.go(base + "/")
        assert browser.attribute("#photo", "capture") == "environment"
        assert "daylight" in browser.text("#instructions")
        browser.send_file("#photo", str(photo))
        verdict = _wait_text(browser, "#verdict")
        assert verdict in ("Likely benign (model estimate)", "Possibly malignant")
        assert "safe" not in verdict.lower()
        assert "%" in browser.text("#percent")
        assert len(browser.text("#advice")) > 20
        assert "not medical advice" in browser.text("#result-disclaimer")
        assert "tiny-test-model" in browser.text("#modelinfo")
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_api_key_prompt_and_error_message(tiny_bundle, tmp_path, browser):
    server, base = start_uvicorn(tiny_bundle, tmp_path / "server", {"MELANOMA_API_KEY": "page-key"})
    try:
        not_a_photo = tmp_path / "notes.txt"
        not_a_photo.write_text("this is not an image")
        photo = tmp_path / "mole.png"
        photo.write_bytes(encode(lesion_image(seed=6), "PNG"))
        browser.go(base + "/")
        deadline = time.monotonic() + 15
        while not browser.displayed("#keyrow") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert browser.displayed("#keyrow"), "the page must ask for the API key after a 401"
        browser.type_text("#apikey", "page-key")
        browser.send_file("#photo", str(not_a_photo))
        assert "not a decodable image" in _wait_text(browser, "#error")
        browser.send_file("#photo", str(photo))
        assert "%" in _wait_text(browser, "#percent")
        assert not browser.displayed("#error")
    finally:
        server.terminate()
        server.wait(timeout=10)
