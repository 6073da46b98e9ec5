"""`melanoma serve` as a user runs it: no bundle yet → export the champion → serve it over HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
from PIL import Image

from melanoma_exp.export.registry import champion_version, register_run

# The installed console script of this environment (`make test` does not put .venv/bin on PATH).
MELANOMA = str(Path(sys.executable).with_name("melanoma"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(tmp_path, uri: str) -> dict:
    return {**os.environ, "MELANOMA_ROOT": str(tmp_path), "MLFLOW_TRACKING_URI": uri,
            "MLFLOW_DISABLE_TELEMETRY": "true", "TF_CPP_MIN_LOG_LEVEL": "2"}


def test_serve_exports_the_champion_then_answers(mlflow_store, tmp_path):
    uri, runs = mlflow_store
    register_run(runs[1], "serve-test", tracking_uri=uri)
    assert champion_version("serve-test", tracking_uri=uri) == "1"
    port = _free_port()
    proc = subprocess.Popen([MELANOMA, "serve", "--model-name", "serve-test", "--port", str(port)],
                            env=_env(tmp_path, uri), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline, base = time.monotonic() + 180, f"http://127.0.0.1:{port}"
        while time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read().decode()[-3000:]
            try:
                health = httpx.get(base + "/health", timeout=1).json()
                break
            except httpx.HTTPError:
                time.sleep(0.3)
        assert health["model"] == {"name": "serve-test", "version": "1"}
        buf = __import__("io").BytesIO()
        Image.fromarray(np.full((64, 64, 3), 120, np.uint8)).save(buf, "PNG")
        r = httpx.post(base + "/v1/predict", content=buf.getvalue(), headers={"content-type": "image/png"})
        assert r.status_code == 200 and r.json()["model"]["name"] == "serve-test"
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    assert (tmp_path / "outputs" / "bundle" / "model.json").is_file()


def test_serve_without_champion_explains_what_to_do(mlflow_store, tmp_path):
    uri, _ = mlflow_store
    proc = subprocess.run([MELANOMA, "serve", "--model-name", "never-registered"],
                          env=_env(tmp_path, uri), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert "no champion model 'never-registered'" in proc.stderr and "make demo" in proc.stderr
