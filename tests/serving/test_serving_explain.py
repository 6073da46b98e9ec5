"""POST /v1/predict?explain=1 (issue 25): where the model looked, on a real uvicorn server over the
real tiny bundle and its explain.tflite, for a real dermoscopy image and a real photograph."""

from __future__ import annotations

import base64
import io
import json
import shutil

import httpx
import numpy as np
import pytest
from PIL import Image
from serving_helpers import ROOT, encode, lesion_image, start_uvicorn

from melanoma_exp.data.real_photos import real_photos

DERMOSCOPY = ROOT / "samples" / "isic_uda1" / "ISIC_0000000.jpg"


def _photos() -> dict[str, bytes]:
    """A real ISIC dermoscopy image and a real photograph (scikit-learn's china), as uploaded."""
    (china,) = [p for p in real_photos(("scikit-learn",)) if p.name == "china"]
    return {"dermoscopy": DERMOSCOPY.read_bytes(), "photograph": encode(Image.fromarray(china.rgb), quality=92)}


@pytest.fixture(scope="module")
def server(tiny_bundle, tmp_path_factory):
    proc, base = start_uvicorn(tiny_bundle, tmp_path_factory.mktemp("explain_server"))
    try:
        with httpx.Client(base_url=base, timeout=60) as http:
            yield http
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def _post(http, data: bytes, query: str = "") -> httpx.Response:
    return http.post("/v1/predict" + query, content=data, headers={"content-type": "image/jpeg"})


def _expected_overlay(bundle, data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """The heatmap and overlay of the model input, computed here by serving.explain's own pieces."""
    from serving.explain import ExplainModel, overlay
    from serving.service import LesionService
    from serving.settings import Settings

    spec = json.loads((bundle / "model.json").read_text())
    pixels = LesionService(Settings(bundle_dir=bundle)).model_input(data)
    _, heatmap = ExplainModel(bundle, spec["explain"]).explain(pixels)
    return heatmap, overlay(pixels, heatmap, spec["explain"]["overlay"]["alpha"])


@pytest.mark.parametrize("kind", ["dermoscopy", "photograph"])
def test_explain_returns_the_declared_map_and_its_overlay(server, tiny_bundle, kind):
    data = _photos()[kind]
    spec = json.loads((tiny_bundle / "model.json").read_text())
    _, height, width = spec["explain"]["outputs"]["heatmap"]["shape"]
    plain = _post(server, data)
    explained = _post(server, data, "?explain=1")
    assert plain.status_code == explained.status_code == 200, explained.text
    assert "explanation" not in plain.json()  # no parameter: no explanation work, no key
    body = explained.json()
    assert body["malignant_probability"] == plain.json()["malignant_probability"]
    assert body["label"] == plain.json()["label"] and "not medical advice" in body["disclaimer"]

    exp = body["explanation"]
    assert exp["available"] is True and exp["method"] == "grad-cam"
    assert "not medical advice" in exp["note"].lower() and "not where a lesion is" in exp["note"]
    values = np.array(exp["heatmap"]["values"])
    assert (exp["heatmap"]["height"], exp["heatmap"]["width"]) == values.shape == (height, width)
    assert values.min() >= 0.0 and values.max() <= 1.0 and values.max() > 0.0
    assert exp["overlay_size"] == [spec["input"]["width"], spec["input"]["height"]]

    png = Image.open(io.BytesIO(base64.b64decode(exp["overlay_png"], validate=True)))
    assert png.format == "PNG" and png.mode == "RGB" and list(png.size) == exp["overlay_size"]
    heatmap, overlay = _expected_overlay(tiny_bundle, data)
    np.testing.assert_allclose(values, heatmap, atol=5e-5)
    np.testing.assert_array_equal(np.asarray(png), overlay)


def test_explain_values_are_case_insensitive_and_anything_else_is_a_400(server):
    data = encode(lesion_image(seed=8))
    for value in ("1", "true", "TRUE", "True"):
        r = _post(server, data, f"?explain={value}")
        assert r.status_code == 200 and r.json()["explanation"]["available"] is True, (value, r.text)
    for value in ("0", "false", "FALSE"):
        r = _post(server, data, f"?explain={value}")
        assert r.status_code == 200 and "explanation" not in r.json(), (value, r.text)
    for value in ("yes", "2", "", "on", "1.0"):
        r = _post(server, data, f"?explain={value}")
        assert r.status_code == 400, (value, r.text)
        error = r.json()["error"]
        assert error["code"] == "bad_request" and "explain" in error["message"], (value, error)


def test_a_bad_image_with_explain_is_still_a_400(server):
    jpeg = encode(lesion_image(seed=9))
    for data in (b"not an image at all", jpeg[: len(jpeg) // 3]):
        r = _post(server, data, "?explain=1")
        assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_image", r.text


def test_a_photo_with_quality_issues_still_gets_its_map(server):
    dark = encode(Image.fromarray((np.asarray(lesion_image(seed=2)) * 0.1).astype(np.uint8)))
    body = _post(server, dark, "?explain=1").json()
    assert body["quality"]["ok"] is False and "too_dark" in body["quality"]["issues"]
    assert body["recommendation"]["level"] == "retake_photo"
    assert body["explanation"]["available"] is True and body["explanation"]["overlay_png"]


@pytest.mark.parametrize("variant", ["older bundle (no explain key)", "explain null", "file left out of the deployment"])
def test_bundle_without_explain_model_answers_the_verdict_and_says_why(tiny_bundle, tmp_path, variant):
    from fastapi.testclient import TestClient

    from serving.app import create_app
    from serving.settings import Settings

    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bundle)
    spec = json.loads((bundle / "model.json").read_text())
    if variant.startswith("older"):
        del spec["explain"]
    elif variant.startswith("explain null"):
        spec["explain"] = None  # (else: model.json names explain.tflite, the copy lacks it: still serves)
    (bundle / "explain.tflite").unlink()
    (bundle / "model.json").write_text(json.dumps(spec))
    client = TestClient(create_app(Settings(bundle_dir=bundle)), raise_server_exceptions=False)
    data = encode(lesion_image(seed=3))
    plain = client.post("/v1/predict", content=data, headers={"content-type": "image/jpeg"})
    r = client.post("/v1/predict?explain=1", content=data, headers={"content-type": "image/jpeg"})
    assert r.status_code == plain.status_code == 200, r.text
    body = r.json()
    assert body["malignant_probability"] == plain.json()["malignant_probability"]
    exp = body["explanation"]
    assert exp["available"] is False and "overlay_png" not in exp and "heatmap" not in exp
    assert "re-export the bundle with melanoma export" in exp["reason"]
    if variant.startswith("file"):
        assert "this deployment lacks explain.tflite" in exp["reason"]
    assert "not medical advice" in exp["note"].lower()


def test_explain_is_documented_in_openapi(client):
    openapi = client.get("/openapi.json").json()
    post = openapi["paths"]["/v1/predict"]["post"]
    (param,) = [p for p in post["parameters"] if p["name"] == "explain"]
    assert param["in"] == "query" and param["required"] is False
    assert all(word in param["description"] for word in ("1", "true", "false", "400"))
    schemas = openapi["components"]["schemas"]
    ok = post["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert ok == "#/components/schemas/Prediction"
    assert "explanation" in schemas["Prediction"]["properties"]
    assert "explanation" not in schemas["Prediction"].get("required", [])
    explanation = schemas["Explanation"]
    assert {"available", "method", "heatmap", "overlay_png", "overlay_size", "reason", "note"} <= set(
        explanation["properties"])
    assert set(explanation["required"]) == {"available", "note"}
    assert {"height", "width", "values"} <= set(schemas["Heatmap"]["properties"])
