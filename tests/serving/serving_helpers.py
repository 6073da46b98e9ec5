"""Helpers shared by the serving tests (images, ports, polling). Imported as `serving_helpers`."""

from __future__ import annotations

import io
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]


def lesion_image(size: tuple[int, int] = (640, 480), seed: int = 0) -> Image.Image:
    """A textured skin-like photo with a dark lesion: passes the quality gate at >= 224 px."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.array([200, 150, 120], np.float32) + rng.normal(0, 14, (h, w, 3))
    inside = ((yy - h / 2) / (h / 4)) ** 2 + ((xx - w / 2) / (w / 5)) ** 2 < 1
    img[inside] = np.array([90, 55, 40]) + rng.normal(0, 14, (int(inside.sum()), 3))
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def encode(image: Image.Image, fmt: str = "JPEG", **kwargs) -> bytes:
    """Encode an image in memory."""
    buf = io.BytesIO()
    image.save(buf, fmt, **kwargs)
    return buf.getvalue()


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    """Poll ``url`` until it answers (any status) or fail with the server's output."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"server exited early with {proc.returncode}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {timeout} s")
