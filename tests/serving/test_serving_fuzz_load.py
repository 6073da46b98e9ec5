"""Reliability on a real uvicorn server: 1,000+ malformed requests, then concurrent load."""

from __future__ import annotations

import struct
import zlib
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image
from serving_helpers import encode, lesion_image, start_uvicorn

BODY_LIMIT = 2_000_000
N_FUZZ = 1000
TYPES = ["image/jpeg", "image/png", "image/webp", "image/heic"]


@pytest.fixture(scope="module")
def server(tiny_bundle, tmp_path_factory):
    proc, base = start_uvicorn(tiny_bundle, tmp_path_factory.mktemp("fuzz"),
                               {"MELANOMA_MAX_BODY_BYTES": str(BODY_LIMIT)})
    yield base
    proc.terminate()
    proc.wait(timeout=10)


def _png_claiming(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims huge dimensions (decompression-bomb shape)."""
    png = bytearray(encode(Image.new("L", (8, 8)), "PNG"))
    ihdr = struct.pack(">II", width, height) + bytes(png[24:29])
    png[16:29] = ihdr
    png[29:33] = struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
    return bytes(png)


def _valid_odd_payloads() -> list[tuple[bytes, str]]:
    """Well-formed but awkward images: odd modes, EXIF rotations, GPS, tiny and thin images."""
    base = lesion_image((96, 72), seed=9)
    out = [(encode(base.convert(mode), fmt), mime) for mode, fmt, mime in [
        ("CMYK", "JPEG", "image/jpeg"), ("L", "PNG", "image/png"), ("P", "PNG", "image/png"),
        ("RGBA", "PNG", "image/png"), ("LA", "PNG", "image/png"), ("1", "PNG", "image/png"),
        ("RGBA", "WEBP", "image/webp"), ("RGB", "HEIF", "image/heic")]]
    out.append((encode(Image.fromarray((np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)), "PNG"),
                "image/png"))
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[0x0112] = orientation
        exif.get_ifd(0x8825).update({1: "N", 2: (52.0, 31.0, 12.0)})
        out.append((encode(base, "JPEG", exif=exif), "image/jpeg"))
    out += [(encode(Image.new("RGB", (1, 1)), "PNG"), "image/png"),
            (encode(Image.new("RGB", (4000, 1)), "PNG"), "image/png")]
    return out


def fuzz_requests(seed: int = 0):
    """Yield N_FUZZ ``(kwargs, must_fail)`` request specs mixing malformed and awkward inputs."""
    rng = np.random.default_rng(seed)
    jpeg, png = encode(lesion_image((160, 120))), encode(lesion_image((160, 120)), "PNG")
    webp = encode(lesion_image((160, 120)), "WEBP")
    valid = _valid_odd_payloads()
    for i in range(N_FUZZ):
        kind = i % 10
        mime = TYPES[int(rng.integers(len(TYPES)))]
        if kind == 0:
            body = rng.bytes(int(rng.integers(0, 4000)))
            yield dict(content=body, headers={"content-type": mime}), True
        elif kind == 1:
            src = [jpeg, png, webp][int(rng.integers(3))]
            yield dict(content=src[: int(rng.integers(0, len(src) - 1))], headers={"content-type": mime}), True
        elif kind == 2:
            flipped = bytearray(jpeg)
            for pos in rng.integers(20, len(flipped), 30):
                flipped[pos] = int(rng.integers(256))
            yield dict(content=bytes(flipped), headers={"content-type": "image/jpeg"}), False  # may still decode
        elif kind == 3:
            yield dict(content=b"", headers={"content-type": mime}), True
        elif kind == 4:
            extra = int(rng.integers(1, 1000))
            if i % 20 == 4:  # chunked upload without Content-Length: the limit holds while streaming
                chunks = [b"\xff\xd8" + b"\0" * 65534] * (BODY_LIMIT // 65536 + 2)
                yield dict(content=iter(chunks), headers={"content-type": "image/jpeg"}), True
            else:
                yield dict(content=b"\xff\xd8" + b"\0" * (BODY_LIMIT + extra),
                           headers={"content-type": "image/jpeg"}), True
        elif kind == 5:
            ctype = ["text/plain", "application/json", "image/gif", "", "application/octet-stream"][i % 5]
            yield dict(content=jpeg, headers={"content-type": ctype} if ctype else {}), True
        elif kind == 6:
            yield dict(content=_png_claiming(int(rng.integers(20_000, 100_000)), 60_000),
                       headers={"content-type": "image/png"}), True
        elif kind == 7:
            data, mime = valid[int(rng.integers(len(valid)))]
            yield dict(content=data, headers={"content-type": mime}), False
        elif kind == 8:
            variants = [dict(content=b"--x\r\ngarbage", headers={"content-type": "multipart/form-data"}),
                        dict(content=b"--zz\r\n\r\n" + rng.bytes(50),
                             headers={"content-type": "multipart/form-data; boundary=zz"}),
                        dict(files={"photo": ("a.jpg", jpeg, "image/jpeg")}),
                        dict(files={"image": ("a.bin", rng.bytes(300), "application/octet-stream")})]
            yield variants[i % 4], True
        else:
            data, mime = valid[int(rng.integers(len(valid)))]
            yield dict(files={"image": ("p", data, mime)}), False


def test_fuzz_never_5xx_and_errors_are_json(server):
    import httpx

    statuses: dict[int, int] = {}
    with httpx.Client(base_url=server, timeout=30) as http:
        for kwargs, must_fail in fuzz_requests():
            r = http.post("/v1/predict", **kwargs)
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            assert r.status_code < 500, (r.status_code, r.text)
            body = r.json()
            if r.status_code == 200:
                assert not must_fail and body["disclaimer"] and body["label"] in ("benign", "malignant")
            else:
                assert r.status_code in (400, 413, 415) and body["error"]["code"] and body["error"]["message"]
        assert http.get("/health").json()["status"] == "ok"
    assert sum(statuses.values()) >= 1000
    assert {200, 400, 413, 415} <= set(statuses), statuses


def test_concurrent_load_has_zero_errors(server):
    import httpx

    images = [encode(lesion_image((640, 480), seed=s)) for s in range(4)]

    def client_run(worker: int) -> list[int]:
        with httpx.Client(base_url=server, timeout=30) as http:
            return [http.post("/v1/predict", content=images[(worker + k) % 4],
                              headers={"content-type": "image/jpeg"}).status_code for k in range(25)]

    with ThreadPoolExecutor(8) as pool:
        codes = [code for run in pool.map(client_run, range(8)) for code in run]
    assert len(codes) == 200 and codes.count(200) == 200
