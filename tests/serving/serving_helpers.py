"""Helpers shared by the serving tests (images, ports, polling). Imported as `serving_helpers`."""

from __future__ import annotations

import io
import socket
import subprocess
import time
from pathlib import Path

import numpy as np
import pillow_heif
from PIL import Image

pillow_heif.register_heif_opener()  # lets encode() write HEIC test images

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


# Installed in the server process via sitecustomize: records every file the process opens for
# writing (including unnamed O_TMPFILE spools, which leave no trace in a directory listing).
AUDIT_HOOK = """
import os, sys
_fd = os.open({log!r}, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
_WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | getattr(os, "O_TMPFILE", 0)
def _hook(event, args):
    if event == "open" and args and args[0] is not None and not isinstance(args[0], int):
        mode, flags = args[1] or "", args[2] or 0
        if any(c in str(mode) for c in "wax+") or (isinstance(flags, int) and flags & _WRITE):
            os.write(_fd, (str(args[0]) + "\\n").encode())
    elif event in ("tempfile.mkstemp", "tempfile.mkdtemp"):
        os.write(_fd, (event + " " + str(args[0]) + "\\n").encode())
sys.addaudithook(_hook)
"""


def start_uvicorn(bundle: Path, workdir: Path, env_extra: dict | None = None) -> tuple[subprocess.Popen, str]:
    """Start the real app under uvicorn on a free 127.0.0.1 port, cwd and TMPDIR inside ``workdir``.

    Output goes to ``workdir/logs/server.log``. Returns ``(process, base_url)``; stop it with
    ``proc.terminate()``.
    """
    import os
    import sys

    port = free_port()
    (workdir / "tmp").mkdir(parents=True, exist_ok=True)
    (workdir / "cwd").mkdir(exist_ok=True)
    (workdir / "logs").mkdir(exist_ok=True)
    hook_dir = workdir / "audit"
    hook_dir.mkdir(exist_ok=True)
    (hook_dir / "sitecustomize.py").write_text(AUDIT_HOOK.format(log=str(workdir / "logs" / "writes.log")))
    env = {**os.environ, "MELANOMA_BUNDLE": str(bundle), "TMPDIR": str(workdir / "tmp"),
           "PYTHONPATH": f"{hook_dir}{os.pathsep}{ROOT}", "PYTHONDONTWRITEBYTECODE": "1", **(env_extra or {})}
    log = open(workdir / "logs" / "server.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "serving.app:app", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "debug"], cwd=workdir / "cwd", env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/health", proc=proc)
    except AssertionError:
        proc.kill()
        raise
    return proc, base
