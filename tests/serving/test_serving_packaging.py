"""The Lambda image's inputs agree with what the tests run: pins, handler, copied files."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata

from packaging.requirements import Requirement
from serving_helpers import ROOT

SERVING = ROOT / "serving"


def _pins() -> dict[str, str]:
    lines = (SERVING / "requirements.txt").read_text().splitlines()
    pins = {}
    for line in lines:
        if line.strip() and not line.startswith("#"):
            name, version = line.strip().split("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def test_requirements_are_exact_tested_and_complete():
    pins = _pins()
    for name, version in pins.items():
        assert metadata.version(name) == version, f"{name}: tested {metadata.version(name)}, pinned {version}"
    # Every transitive dependency (for Linux, Python 3.11) is pinned too: the image is reproducible.
    for name in pins:
        for req in map(Requirement, metadata.requires(name) or []):
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                assert re.sub(r"[-_.]+", "-", req.name).lower() in pins, f"{name} needs unpinned {req.name}"
    assert not {"tensorflow", "keras", "tensorflow-cpu", "mlflow"} & set(pins)


def test_serve_extra_matches_requirements():
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["serve"]
    pins = _pins()
    for spec in extra:
        req = Requirement(spec)
        if req.name == "uvicorn":  # local serving only; the Lambda image runs Mangum
            continue
        assert pins.get(req.name.lower()) == str(req.specifier).removeprefix("=="), spec


def test_dockerfile_handler_and_files_exist():
    dockerfile = (SERVING / "Dockerfile").read_text()
    assert dockerfile.startswith("#") and "FROM public.ecr.aws/lambda/python:3.11" in dockerfile
    assert 'CMD ["serving.lambda_handler.handler"]' in dockerfile
    assert "COPY serving/requirements.txt" in dockerfile
    ignore = (SERVING / "Dockerfile.dockerignore").read_text()
    assert "COPY outputs/bundle/ " in dockerfile
    for name in ("model.json", "model.tflite", "model_int8.tflite", "ood.tflite", "explain.tflite",
                 "MODEL_CARD.md"):
        assert f"!outputs/bundle/{name}" in ignore
    assert "model.keras" not in ignore  # the 50 MB reference model stays out of the image
