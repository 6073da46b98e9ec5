"""Fixtures for the serving tests: one real tiny bundle per session, real apps, real images."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from serving_helpers import ROOT


def build_tiny_bundle(out: Path, size: int = 64, *options: str) -> Path:
    """Run the real tiny-bundle maker in a subprocess (keeps TensorFlow out of this process)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.run([sys.executable, "-m", "melanoma_exp.export.tiny_bundle", "--out", str(out),
                           "--size", str(size), *options], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory) -> Path:
    """A real bundle (tiny CNN, 64 px) exported by `melanoma_exp.export.tiny_bundle`. Read-only."""
    return build_tiny_bundle(tmp_path_factory.mktemp("tiny_bundle") / "bundle")


@pytest.fixture(scope="session")
def tiny_bundle_ood(tmp_path_factory) -> Path:
    """The tiny bundle with the not-a-lesion check (``ood.tflite``, model.json ``ood``). Read-only."""
    return build_tiny_bundle(tmp_path_factory.mktemp("tiny_bundle_ood") / "bundle", 64, "--ood")


@pytest.fixture(scope="session")
def make_client(tiny_bundle):
    """Factory: a TestClient around a real app built on the tiny bundle with given settings."""
    from fastapi.testclient import TestClient

    from serving.app import create_app
    from serving.settings import Settings

    def factory(**overrides):
        settings = Settings(**{"bundle_dir": tiny_bundle, **overrides})
        return TestClient(create_app(settings), raise_server_exceptions=False)

    return factory


@pytest.fixture(scope="session")
def client(make_client):
    """The default app: no API key, no CORS, 15 MB body limit."""
    return make_client()
