"""HTTP API v1 (contract 5) on a real app over a real tiny bundle."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from PIL import Image
from serving_helpers import ROOT, encode, lesion_image

PREDICT_KEYS = {"label", "malignant_probability", "benign_probability", "threshold", "recommendation",
                "quality", "model", "disclaimer", "latency_ms"}


def _bundle_spec(bundle):
    return json.loads((bundle / "model.json").read_text())


def test_predict_raw_jpeg_answers_contract(client, tiny_bundle):
    spec = _bundle_spec(tiny_bundle)
    r = client.post("/v1/predict", content=encode(lesion_image()), headers={"content-type": "image/jpeg"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == PREDICT_KEYS
    assert body["label"] in ("benign", "malignant")
    assert body["malignant_probability"] + body["benign_probability"] == pytest.approx(1.0)
    assert body["threshold"] == spec["decision_threshold"]
    assert body["label"] == ("malignant" if body["malignant_probability"] >= body["threshold"] else "benign")
    assert body["disclaimer"] == spec["disclaimer"] and "not medical advice" in body["disclaimer"]
    assert body["model"] == {"name": spec["name"], "version": spec["version"]}
    assert body["quality"] == {"ok": True, "issues": []}
    assert body["recommendation"]["level"] and "safe" not in body["recommendation"]["text"].lower()
    assert body["latency_ms"] > 0


@pytest.mark.parametrize("fmt,mime", [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp"),
                                      ("HEIF", "image/heic")])
def test_formats_raw_and_multipart_agree(client, fmt, mime):
    data = encode(lesion_image(seed=1), fmt)
    raw = client.post("/v1/predict", content=data, headers={"content-type": mime})
    form = client.post("/v1/predict", files={"image": ("photo", data, mime)})
    assert raw.status_code == form.status_code == 200, (raw.text, form.text)
    assert raw.json()["malignant_probability"] == pytest.approx(form.json()["malignant_probability"])


def test_exif_orientation_is_applied(client):
    upright = lesion_image((300, 500), seed=2)
    # Stored rotated by 90°, with the EXIF tag saying "rotate back" (orientation 6 = 90° CW).
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    rotated = client.post("/v1/predict", content=encode(stored, "PNG", exif=exif),
                          headers={"content-type": "image/png"}).json()
    plain = client.post("/v1/predict", content=encode(upright, "PNG"),
                        headers={"content-type": "image/png"}).json()
    assert rotated["malignant_probability"] == pytest.approx(plain["malignant_probability"], abs=1e-6)


def test_error_codes(client):
    cases = [
        (dict(content=b"not an image", headers={"content-type": "image/jpeg"}), 400, "invalid_image"),
        (dict(content=b"", headers={"content-type": "image/png"}), 400, "invalid_image"),
        (dict(content=b"abc", headers={"content-type": "text/plain"}), 415, "unsupported_media_type"),
        (dict(content=encode(lesion_image((64, 64)), "GIF"), headers={"content-type": "image/jpeg"}),
         415, "unsupported_image_format"),
        (dict(files={"file": ("a.jpg", b"x", "image/jpeg")}), 400, "missing_image"),
        (dict(content=encode(lesion_image())[:2000], headers={"content-type": "image/jpeg"}), 400,
         "invalid_image"),
    ]
    for kwargs, status, code in cases:
        r = client.post("/v1/predict", **kwargs)
        assert r.status_code == status, (code, r.text)
        assert r.json()["error"]["code"] == code and r.json()["error"]["message"]
    r = client.get("/v1/nope")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


def test_body_limit_is_enforced_before_decoding(make_client):
    small = make_client(max_body_bytes=10_000)
    r = small.post("/v1/predict", content=b"\xff\xd8" + b"0" * 20_000, headers={"content-type": "image/jpeg"})
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"


def test_decompression_bomb_is_refused(make_client):
    guarded = make_client(max_pixels=100_000)
    r = guarded.post("/v1/predict", content=encode(Image.new("L", (2000, 2000)), "PNG"),
                     headers={"content-type": "image/png"})
    assert r.status_code == 413 and "pixels" in r.json()["error"]["message"]


def test_api_key(make_client):
    keyed = make_client(api_key="s3cret")
    data = encode(lesion_image())
    assert keyed.get("/health").status_code == 200  # liveness stays open
    for headers in ({}, {"x-api-key": "wrong"}):
        r = keyed.post("/v1/predict", content=data, headers={"content-type": "image/jpeg", **headers})
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
    assert keyed.get("/v1/model").status_code == 401
    ok = keyed.post("/v1/predict", content=data, headers={"content-type": "image/jpeg", "x-api-key": "s3cret"})
    assert ok.status_code == 200


def test_cors_only_for_configured_origins(make_client):
    app = make_client(cors_origins=("https://derm.example",))
    allowed = app.options("/v1/predict", headers={"origin": "https://derm.example",
                                                  "access-control-request-method": "POST"})
    assert allowed.headers.get("access-control-allow-origin") == "https://derm.example"
    other = app.get("/health", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers


def test_model_health_docs_and_page(client, tiny_bundle):
    spec = _bundle_spec(tiny_bundle)
    model = client.get("/v1/model").json()
    assert "files" not in model and model["input"] == spec["input"] and model["disclaimer"] == spec["disclaimer"]
    assert client.get("/health").json()["status"] == "ok"
    openapi = client.get("/openapi.json").json()
    assert "/v1/predict" in openapi["paths"] and client.get("/docs").status_code == 200
    page = client.get("/")
    assert page.status_code == 200 and 'capture="environment"' in page.text


def test_serving_never_imports_tensorflow(tiny_bundle):
    code = ("import sys; from serving.app import create_app; from serving.settings import Settings; "
            f"create_app(Settings(bundle_dir={str(tiny_bundle)!r})); import serving.lambda_handler; "
            "bad = [m for m in ('tensorflow', 'keras', 'melanoma_exp', 'mlflow') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    env = {"MELANOMA_BUNDLE": str(tiny_bundle), "PATH": "/usr/bin:/bin"}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_heic_without_decoder_is_a_clear_415(tmp_path):
    heic = tmp_path / "photo.heic"
    heic.write_bytes(encode(lesion_image((64, 64)), "HEIF"))
    code = ("import sys; sys.modules['pillow_heif'] = None  # as if pillow-heif were not installed\n"
            "from serving.decode import HEIF_AVAILABLE, decode_image\n"
            "from serving.errors import ApiError\n"
            "assert not HEIF_AVAILABLE\n"
            f"try:\n    decode_image(open({str(heic)!r}, 'rb').read(), min_side=64, max_pixels=10**8)\n"
            "except ApiError as e:\n    print(e.status, e.code, e.message)\n")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("415 unsupported_image_format HEIC images are not supported")
