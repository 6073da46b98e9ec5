"""The browser page for a photo of no lesion (bundle with the not-a-lesion check, real headless
Chromium via Selenium, fixtures in conftest.py): retake leads, the estimate is no answer, the advice
and disclaimer come from the answer."""

from __future__ import annotations

import numpy as np
from PIL import Image
from selenium.webdriver.common.by import By
from serving_helpers import encode, start_uvicorn


def test_a_wall_photo_leads_with_retake_not_a_verdict(tiny_bundle_ood, tmp_path, browser, wait_text):
    server, base = start_uvicorn(tiny_bundle_ood, tmp_path / "server")
    try:
        wall = np.full((240, 320, 3), (40, 160, 70), np.float32) + np.random.default_rng(7).normal(0, 12, (240, 320, 3))
        photo = tmp_path / "wall.png"
        photo.write_bytes(encode(Image.fromarray(np.clip(wall, 0, 255).astype(np.uint8)), "PNG"))
        browser.get(base + "/")
        browser.find_element(By.CSS_SELECTOR, "#photo").send_keys(str(photo))
        verdict = wait_text("#verdict")
        assert verdict == "This does not look like a photo of a skin lesion \u2014 retake the photo"
        assert browser.find_element(By.CSS_SELECTOR, "#percent").text.startswith("Not a reliable result")
        advice = browser.find_element(By.CSS_SELECTOR, "#advice").text
        assert "(Problem: this does not look like a photo of a skin lesion.)" in advice and "Meanwhile:" in advice
        assert "not a lesion" in browser.find_element(By.CSS_SELECTOR, "#quality").text
        assert "not medical advice" in browser.find_element(By.CSS_SELECTOR, "#result-disclaimer").text
    finally:
        server.terminate()
        server.wait(timeout=10)
