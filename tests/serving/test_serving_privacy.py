"""Privacy: images never land on disk or in logs; EXIF/GPS are dropped (real uvicorn server)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from serving_helpers import encode, lesion_image, start_uvicorn

MARKER = "PRIVATE-MARKER-7f3a9c"


def _jpeg_with_gps_and_marker() -> bytes:
    exif = Image.Exif()
    exif[0x010E] = MARKER  # ImageDescription
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (52.0, 31.0, 12.0), 3: "E", 4: (13.0, 24.0, 36.0)})
    return encode(lesion_image(seed=5), "JPEG", exif=exif)


def _big_png_with_marker() -> bytes:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", MARKER)
    noise = np.random.default_rng(0).integers(0, 255, (1400, 1400, 3), dtype=np.uint8)
    return encode(Image.fromarray(noise), "PNG", pnginfo=info)  # > 5 MB: beyond any 1 MB spooling


def test_no_image_reaches_disk_or_logs(tiny_bundle, tmp_path):
    import httpx

    proc, base = start_uvicorn(tiny_bundle, tmp_path)
    try:
        jpeg, png = _jpeg_with_gps_and_marker(), _big_png_with_marker()
        assert len(png) > 5_000_000
        with httpx.Client(base_url=base, timeout=30) as http:
            assert http.post("/v1/predict", content=jpeg, headers={"content-type": "image/jpeg"}).status_code == 200
            r = http.post("/v1/predict", files={"image": ("me.png", png, "image/png")})
            assert r.status_code == 200, r.text
            # The explanation (a map and an overlay drawn over the photo) is answered, never stored.
            explained = http.post("/v1/predict?explain=1", content=jpeg, headers={"content-type": "image/jpeg"})
            assert explained.status_code == 200 and explained.json()["explanation"]["available"] is True
            overlay_b64 = explained.json()["explanation"]["overlay_png"]
            bad = http.post("/v1/predict", content=jpeg[: len(jpeg) // 2], headers={"content-type": "image/jpeg"})
            assert bad.status_code == 400
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    writes = (tmp_path / "logs" / "writes.log").read_text().split()
    assert writes == [], f"the server opened files for writing: {writes}"
    assert list((tmp_path / "tmp").iterdir()) == [], "the server wrote temporary files"
    assert list((tmp_path / "cwd").iterdir()) == [], "the server wrote files in its working directory"
    log = (tmp_path / "logs" / "server.log").read_bytes()
    assert b"POST /v1/predict" in log  # the log works, it just holds no image content
    assert MARKER.encode() not in log and jpeg[200:232] not in log and png[500:532] not in log
    assert overlay_b64[100:140].encode() not in log


def test_exif_and_gps_are_dropped_after_orientation():
    from serving.decode import decode_image

    decoded = decode_image(_jpeg_with_gps_and_marker(), min_side=64, max_pixels=10**8)
    assert decoded.image.info == {} and len(decoded.image.getexif()) == 0
    assert MARKER.encode() not in decoded.image.tobytes()


@pytest.mark.parametrize("orientation,expected", [(1, (300, 200)), (6, (200, 300)), (8, (200, 300))])
def test_original_size_follows_orientation(orientation, expected):
    from serving.decode import decode_image

    exif = Image.Exif()
    exif[0x0112] = orientation
    decoded = decode_image(encode(lesion_image((300, 200)), "JPEG", exif=exif), min_side=400, max_pixels=10**8)
    assert decoded.original_size == expected == decoded.image.size
