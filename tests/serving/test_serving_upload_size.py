"""Photos that fit the road they travel (issue 12, item 7).

A 50 MP phone capture re-encoded at full size is far over what the Lambda path carries (6 MB payload,
base64 adds a third: ~4.5 MB of photo). Clients downscale it first to model.json
``quality_gate.upload_max_side_px`` (1024 by default): the app with the core's ``UploadPhoto`` (Pillow's
BOX resize, bit for bit — mobile/core UploadPhotoTest), the browser page with a canvas. Here the real
serving app gets the full-size file and the app's upload of the same photo and must give the same
verdict, and the page is checked in headless Chromium to send the downscaled, upright JPEG.
"""

from __future__ import annotations

import io
import json
import math
import shutil

import numpy as np
import pytest
from PIL import Image, ImageOps
from serving_helpers import encode, lesion_image, start_uvicorn

from melanoma_exp.export.bundle import DEFAULT_QUALITY_GATE
from serving.decode import upload_size
from serving.model import BundleError, load_model_json

LAMBDA_PAYLOAD_BYTES = 6_000_000  # synchronous invocation limit; the body travels base64-encoded
MAX_UPLOAD_BYTES = 4_500_000  # what that leaves for the photo (docs/deploy-lambda.md)
STRIP = 128  # rows generated at a time: ~60 MB of float32 temporaries for an 8160 px wide photo


def capture_jpeg(width: int, height: int, seed: int, quality: int = 95, exif: bytes | None = None) -> bytes:
    """A phone capture of a skin lesion as a JPEG, generated strip by strip (never the whole photo in
    float): shaded skin with pores (fine noise) and a coarser texture that survives the quality gate's
    512 px analysis copy, an irregular dark lesion, a few hairs. The same recipe as UploadPhotoTest."""
    rng = np.random.default_rng(seed)
    cell = 24
    grid = rng.uniform(-22.0, 22.0, (height // cell + 2, width // cell + 2)).astype(np.float32)
    xs = np.arange(width, dtype=np.float32)
    gx, fx = (xs // cell).astype(np.int64), (xs % cell) / cell
    cx, cy, r = width * 0.48, height * 0.52, min(width, height) * 0.2
    image = Image.new("RGB", (width, height))
    for y0 in range(0, height, STRIP):
        ys = np.arange(y0, min(y0 + STRIP, height), dtype=np.float32)[:, None]
        gy, fy = (ys // cell).astype(np.int64), (ys % cell) / cell
        t = ((grid[gy, gx] * (1 - fx) + grid[gy, gx + 1] * fx) * (1 - fy)
             + (grid[gy + 1, gx] * (1 - fx) + grid[gy + 1, gx + 1] * fx) * fy)
        noise = rng.normal(0.0, 4.5, (len(ys), width, 3)).astype(np.float32)
        shade = 18.0 * ys / height
        img = np.stack([206 - shade + 12 * xs / width + t, 158 - shade + 0.8 * t, 134 - shade + 0.7 * t], -1)
        dx, dy = xs - cx, ys - cy
        angle = np.arctan2(dy, dx)
        edge2 = (r * (1 + 0.18 * np.sin(5 * angle) + 0.07 * np.sin(13 * angle))) ** 2
        inside = dx**2 + dy**2 < edge2
        depth = 1 - (dx**2 + dy**2) / edge2
        lesion = np.stack([120 - 40 * depth + 0.6 * t, 78 - 30 * depth + 0.5 * t, 60 - 20 * depth + 0.4 * t], -1)
        img = np.where(inside[..., None], lesion, img)
        img[((xs + 3 * ys) % 1499 < 5) | ((2 * xs - ys + 7 * height) % 2311 < 4)] = (70, 52, 44)  # hairs
        img += noise
        image.paste(Image.fromarray(np.clip(img, 0, 255).astype(np.uint8)), (0, y0))
    return encode(image, "JPEG", quality=quality, **({"exif": exif} if exif else {}))


def app_upload(photo: bytes, max_side: int) -> bytes:
    """What the app uploads for ``photo``: decoded with JPEG DCT scaling while both sides stay at least
    ``max_side`` (Android's inSampleSize in BitmapImageDecoder; Pillow's draft picks the same 1/2/4/8),
    turned upright, BOX-resized to long side ``max_side`` (the core's UploadPhoto.downscale is this
    resize bit for bit) and encoded as JPEG quality 90 (UploadPhoto.JPEG_QUALITY)."""
    with Image.open(io.BytesIO(photo)) as img:
        img.draft("RGB", (max_side, max_side))
        upright = ImageOps.exif_transpose(img).convert("RGB")
    return encode(upright.resize(upload_size(upright.size, max_side), Image.Resampling.BOX), "JPEG", quality=90)


def base64_size(n: int) -> int:
    return 4 * math.ceil(n / 3)


def predict(client, photo: bytes):
    return client.post("/v1/predict", files={"image": ("photo.jpg", photo, "image/jpeg")})


@pytest.fixture(scope="module")
def capture_50mp() -> bytes:
    """An 8160x6120 (50 MP) capture at JPEG quality 95, what the app used to send."""
    return capture_jpeg(8160, 6120, seed=50)


def test_a_50_mp_capture_is_sent_under_the_limit_with_the_same_verdict(make_client, capture_50mp):
    client = make_client(max_body_bytes=64_000_000)  # served locally: the full-size file is accepted
    max_side = client.get("/v1/model").json()["quality_gate"]["upload_max_side_px"]
    assert max_side == DEFAULT_QUALITY_GATE["upload_max_side_px"] == 1024
    upload = app_upload(capture_50mp, max_side)
    with Image.open(io.BytesIO(upload)) as im:
        assert im.size == (1024, 768)
    print(f"50 MP capture: {len(capture_50mp):,} bytes full size, {len(upload):,} bytes uploaded")
    assert base64_size(len(capture_50mp)) > LAMBDA_PAYLOAD_BYTES, "the full-size file would not fit Lambda"
    assert len(upload) < MAX_UPLOAD_BYTES and base64_size(len(upload)) < LAMBDA_PAYLOAD_BYTES

    full, small = predict(client, capture_50mp), predict(client, upload)
    assert full.status_code == small.status_code == 200, (full.text, small.text)
    full, small = full.json(), small.json()
    print(f"p(malignant): full {full['malignant_probability']:.4f}, upload {small['malignant_probability']:.4f}")
    assert small["label"] == full["label"]
    assert abs(small["malignant_probability"] - full["malignant_probability"]) <= 0.02
    assert small["quality"] == full["quality"]
    assert small["quality"]["ok"], small["quality"]  # a sharp, well-lit photo either way
    assert small["recommendation"]["level"] == full["recommendation"]["level"]


def test_behind_the_lambda_body_limit_only_the_downscaled_photo_gets_through(make_client, capture_50mp):
    client = make_client(max_body_bytes=LAMBDA_PAYLOAD_BYTES)  # the Lambda image's MELANOMA_MAX_BODY_BYTES
    full = predict(client, capture_50mp)
    assert full.status_code == 413 and full.json()["error"]["code"] == "payload_too_large"
    assert predict(client, app_upload(capture_50mp, 1024)).status_code == 200


def test_upload_max_side_is_optional_and_checked_at_load(tiny_bundle, tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bundle)
    path = bundle / "model.json"
    spec = json.loads(path.read_text())
    assert load_model_json(bundle)["quality_gate"]["upload_max_side_px"] == 1024
    del spec["quality_gate"]["upload_max_side_px"]  # a bundle exported before clients downscaled
    path.write_text(json.dumps(spec))
    assert "upload_max_side_px" not in load_model_json(bundle)["quality_gate"]
    for bad in (256, 1024.0, "1024", True):  # below the gate's 512 px analysis size, or not an integer
        spec["quality_gate"]["upload_max_side_px"] = bad
        path.write_text(json.dumps(spec))
        with pytest.raises(BundleError, match="quality_gate.upload_max_side_px must be an integer >= 512"):
            load_model_json(bundle)


SPY_ON_UPLOADS = """
window.__uploads = [];
const send = window.fetch;
window.fetch = async (url, options) => {
  if (options && options.body instanceof FormData) {
    const image = options.body.get("image");
    const bitmap = await createImageBitmap(image);
    window.__uploads.push({bytes: image.size, type: image.type, width: bitmap.width, height: bitmap.height});
  }
  return send(url, options);
};
"""


def test_the_page_downscales_to_the_served_long_side_upright(tiny_bundle, tmp_path, browser, page_wait, wait_text):
    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bundle)
    spec = json.loads((bundle / "model.json").read_text())
    spec["quality_gate"]["upload_max_side_px"] = 800  # not the page's default: it must read GET /v1/model
    (bundle / "model.json").write_text(json.dumps(spec))
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown portrait (rotate 90° clockwise)
    big = tmp_path / "big.jpg"
    big.write_bytes(capture_jpeg(4000, 3000, seed=12, exif=exif.tobytes()))  # a 12 MP phone photo
    small = tmp_path / "small.jpg"
    small.write_bytes(encode(lesion_image((640, 480), seed=3)))
    server, base = start_uvicorn(bundle, tmp_path / "server")
    try:
        browser.get(base + "/")
        page_wait.until(lambda driver: driver.execute_script("return uploadMaxSide") == 800)
        browser.execute_script(SPY_ON_UPLOADS)
        photo = browser.find_element("css selector", "#photo")
        photo.send_keys(str(big))
        page_wait.until(lambda driver: driver.execute_script("return window.__uploads.length") == 1)
        assert "%" in wait_text("#percent")
        sent = browser.execute_script("return window.__uploads[0]")
        assert (sent["width"], sent["height"]) == (600, 800), sent  # upright, long side 800
        assert sent["type"] == "image/jpeg" and sent["bytes"] < big.stat().st_size / 4, sent

        photo.send_keys(str(small))  # already small: sent as it is
        page_wait.until(lambda driver: driver.execute_script("return window.__uploads.length") == 2)
        assert "%" in wait_text("#percent")
        sent = browser.execute_script("return window.__uploads[1]")
        assert (sent["width"], sent["height"], sent["bytes"]) == (640, 480, small.stat().st_size), sent
    finally:
        server.terminate()
        server.wait(timeout=10)
