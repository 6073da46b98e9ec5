"""The browser page's "Show where the model looked" in real headless Chromium (fixtures in
conftest.py): a real dermoscopy photo goes up with ?explain=1 and the overlay the page shows is the
server's Grad-CAM overlay of the model input; a bundle without explain.tflite shows why."""

from __future__ import annotations

import base64
import io
import json
import shutil

import numpy as np
from PIL import Image
from selenium.webdriver.common.by import By
from serving_helpers import ROOT, start_uvicorn

DERMOSCOPY = ROOT / "samples" / "isic_uda1" / "ISIC_0000001.jpg"  # 512x384: uploaded as it is


def _css(driver, css: str):
    return driver.find_element(By.CSS_SELECTOR, css)


def _loaded_overlay(driver, page_wait):
    """The #overlay <img> once it shows a decoded image; returns its element."""
    page_wait.until(lambda d: d.execute_script(
        "const img = document.getElementById('overlay');"
        "return img.complete && img.naturalWidth > 0 && img.offsetWidth > 0;"))
    return _css(driver, "#overlay")


def test_the_page_shows_where_the_model_looked(tiny_bundle, tmp_path, browser, page_wait, wait_text):
    from serving.explain import ExplainModel, overlay
    from serving.service import LesionService
    from serving.settings import Settings

    spec = json.loads((tiny_bundle / "model.json").read_text())
    server, base = start_uvicorn(tiny_bundle, tmp_path / "server")
    try:
        browser.get(base + "/")
        checkbox = _css(browser, "#explain")
        assert checkbox.is_selected() and "Show where the model looked" in _css(browser, "label.explain").text
        _css(browser, "#photo").send_keys(str(DERMOSCOPY))
        wait_text("#verdict")
        img = _loaded_overlay(browser, page_wait)
        assert browser.execute_script("return arguments[0].naturalWidth", img) == spec["input"]["width"]
        assert browser.execute_script("return arguments[0].naturalHeight", img) == spec["input"]["height"]
        src = img.get_attribute("src")
        assert src.startswith("data:image/png;base64,")
        shown = np.asarray(Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).convert("RGB"))

        pixels = LesionService(Settings(bundle_dir=tiny_bundle)).model_input(DERMOSCOPY.read_bytes())
        _, heatmap = ExplainModel(tiny_bundle, spec["explain"]).explain(pixels)
        np.testing.assert_array_equal(shown, overlay(pixels, heatmap, spec["explain"]["overlay"]["alpha"]))
        assert np.abs(shown.astype(int) - pixels.astype(int)).mean() > 10  # not the plain photo

        note = _css(browser, "#explain-note").text
        assert "Where the model looked" in note and "not where a lesion is" in note
        assert "not medical advice" in _css(browser, "#explain-disclaimer").text
        assert _css(browser, "#explain-reason").text == ""

        checkbox.click()  # off: the next photo goes up without ?explain=1 and no map is shown
        assert not checkbox.is_selected()
        browser.execute_script("document.getElementById('verdict').textContent = ''")
        _css(browser, "#photo").send_keys(str(ROOT / "samples" / "isic_uda1" / "ISIC_0000002.jpg"))
        wait_text("#verdict")
        assert not _css(browser, "#explanation").is_displayed() and not img.is_displayed()
    finally:
        server.terminate()
        server.wait(timeout=10)
    log = (tmp_path / "server" / "logs" / "server.log").read_text()
    assert "POST /v1/predict?explain=1 HTTP/1.1\" 200" in log and "POST /v1/predict HTTP/1.1\" 200" in log


def test_the_page_says_why_a_bundle_has_no_map(tiny_bundle, tmp_path, browser, wait_text):
    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bundle)
    spec = json.loads((bundle / "model.json").read_text())
    del spec["explain"]
    (bundle / "explain.tflite").unlink()
    (bundle / "model.json").write_text(json.dumps(spec))
    server, base = start_uvicorn(bundle, tmp_path / "server")
    try:
        browser.get(base + "/")
        _css(browser, "#photo").send_keys(str(DERMOSCOPY))
        wait_text("#verdict")
        reason = wait_text("#explain-reason")
        assert reason.startswith("No map for this model:") and "re-export the bundle" in reason
        assert not _css(browser, "#overlay").is_displayed()
        assert "not medical advice" in _css(browser, "#explain-disclaimer").text
    finally:
        server.terminate()
        server.wait(timeout=10)
