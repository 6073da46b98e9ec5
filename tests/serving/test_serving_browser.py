"""The browser page in real headless Chromium (Selenium + chromedriver, fixtures in conftest.py):
pick a photo, see the verdict, the percentage, the advice and the disclaimer rendered."""

from __future__ import annotations

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from serving_helpers import encode, lesion_image, start_uvicorn


def _css(driver, css: str):
    return driver.find_element(By.CSS_SELECTOR, css)


def test_upload_a_photo_and_see_the_verdict(tiny_bundle, tmp_path, browser, wait_text):
    server, base = start_uvicorn(tiny_bundle, tmp_path / "server")
    try:
        photo = tmp_path / "mole.jpg"
        photo.write_bytes(encode(lesion_image(seed=4)))
        browser.get(base + "/")
        assert _css(browser, "#photo").get_dom_attribute("capture") == "environment"
        assert "daylight" in _css(browser, "#instructions").text
        _css(browser, "#photo").send_keys(str(photo))
        verdict = wait_text("#verdict")
        assert verdict in ("Likely benign (model estimate)", "Possibly malignant")
        assert "safe" not in verdict.lower()
        assert "%" in _css(browser, "#percent").text
        assert len(_css(browser, "#advice").text) > 20
        assert "not medical advice" in _css(browser, "#result-disclaimer").text
        assert "tiny-test-model" in _css(browser, "#modelinfo").text
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_api_key_prompt_and_error_message(tiny_bundle, tmp_path, browser, page_wait, wait_text):
    server, base = start_uvicorn(tiny_bundle, tmp_path / "server", {"MELANOMA_API_KEY": "page-key"})
    try:
        not_a_photo = tmp_path / "notes.txt"
        not_a_photo.write_text("this is not an image")
        photo = tmp_path / "mole.png"
        photo.write_bytes(encode(lesion_image(seed=6), "PNG"))
        browser.get(base + "/")
        page_wait.until(EC.visibility_of_element_located((By.CSS_SELECTOR, "#keyrow")),
                        "the page must ask for the API key after a 401")
        _css(browser, "#apikey").send_keys("page-key")
        _css(browser, "#photo").send_keys(str(not_a_photo))
        assert "not a decodable image" in wait_text("#error")
        _css(browser, "#photo").send_keys(str(photo))
        assert "%" in wait_text("#percent")
        assert not _css(browser, "#error").is_displayed()
    finally:
        server.terminate()
        server.wait(timeout=10)
