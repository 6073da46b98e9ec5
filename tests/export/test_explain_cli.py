"""`melanoma explain` as a user runs it: on a bundle, on a registered model and on a run id, for one
photo and for a folder (real ISIC dermoscopy, a corrupt file among them)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from melanoma_exp.export.registry import register_run
from melanoma_exp.paths import project_root

MELANOMA = str(Path(sys.executable).with_name("melanoma"))
SAMPLE = project_root() / "samples" / "isic_uda1"


def _env(tmp_path: Path, uri: str | None = None) -> dict:
    env = {**os.environ, "MELANOMA_CACHE": str(tmp_path / "cache"), "MLFLOW_DISABLE_TELEMETRY": "true",
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    return {**env, "MLFLOW_TRACKING_URI": uri} if uri else env


def explain(tmp_path: Path, *args: str, uri: str | None = None) -> tuple[int, list[dict], str]:
    proc = subprocess.run([MELANOMA, "explain", *args], env=_env(tmp_path, uri), capture_output=True, text=True,
                          timeout=600)
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    return proc.returncode, lines, proc.stderr


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    from melanoma_exp.export.tiny_bundle import make_tiny_bundle

    return make_tiny_bundle(tmp_path_factory.mktemp("explain_cli") / "bundle", 64, n=24, epochs=2)


def test_one_photo_and_a_folder_on_a_bundle_with_a_corrupt_file_among_them(bundle, tmp_path):
    from serving.service import LesionService
    from serving.settings import Settings

    photos = sorted(SAMPLE.glob("*.jpg"))[:3]
    folder = tmp_path / "photos"
    folder.mkdir()
    for photo in photos[1:]:
        shutil.copy(photo, folder / photo.name)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    out = tmp_path / "out"
    code, lines, stderr = explain(tmp_path, str(photos[0]), str(folder), "--bundle", str(bundle), "--out", str(out))

    assert code == 1, stderr  # one file was not an image: said, and the rest went on
    # the photo, then the folder's files in name order (ISIC_... sorts before broken.jpg)
    assert [Path(line["image"]).name for line in lines] == [p.name for p in photos] + ["broken.jpg"]
    broken = lines[-1]
    assert broken["error"]["code"] and "label" not in broken
    assert "broken.jpg" in stderr
    spec = json.loads((bundle / "model.json").read_text())
    service = LesionService(Settings.from_env(bundle_dir=bundle))
    for line in lines[:-1]:
        # exactly the endpoint's answer: same code path, same numbers
        same = service.analyse(Path(line["image"]).read_bytes())
        assert line["label"] == same["label"] and line["recommendation"] == same["recommendation"]
        assert line["malignant_probability"] == pytest.approx(same["malignant_probability"], abs=1e-6)
        assert "not medical advice" in line["disclaimer"].lower()
        heat = line["explanation"]["heatmap"]
        assert [1, heat["height"], heat["width"]] == spec["explain"]["outputs"]["heatmap"]["shape"]
        assert "overlay_png" not in line["explanation"]  # the PNG is written, not printed
        with Image.open(line["overlay"]) as figure:
            assert figure.width > 300 and np.asarray(figure.convert("RGB")).std() > 10
    assert (out / "contact_sheet.png").stat().st_size > 10_000
    assert [json.loads(t) for t in (out / "explain.jsonl").read_text().splitlines()] == lines


def test_a_bundle_without_explain_still_gives_verdicts_and_says_why(bundle, tmp_path):
    old = tmp_path / "old_bundle"
    shutil.copytree(bundle, old)
    spec = json.loads((old / "model.json").read_text())
    del spec["explain"]
    (old / "model.json").write_text(json.dumps(spec))
    (old / "explain.tflite").unlink()
    code, lines, stderr = explain(tmp_path, str(sorted(SAMPLE.glob("*.jpg"))[0]), "--bundle", str(old),
                                  "--out", str(tmp_path / "out"))
    assert code == 0, stderr
    assert lines[0]["label"] in ("benign", "malignant") and lines[0]["explanation"]["available"] is False
    assert "no explain.tflite" in stderr and "melanoma export" in stderr


def test_bad_arguments_are_named(bundle, tmp_path):
    code, _, stderr = explain(tmp_path, str(tmp_path / "missing.jpg"), "--bundle", str(bundle))
    assert code != 0 and "missing.jpg does not exist" in stderr
    code, _, stderr = explain(tmp_path, str(SAMPLE / "ATTRIBUTION.txt"), "--bundle", str(tmp_path))
    assert code != 0 and "is not a model bundle" in stderr


def test_registered_model_and_run_id_are_exported_once_into_the_cache(mlflow_store, tmp_path):
    uri, runs = mlflow_store
    register_run(runs[0], "explain-test", tracking_uri=uri)
    photo = str(sorted(SAMPLE.glob("*.jpg"))[0])
    code, lines, stderr = explain(tmp_path, photo, "--model", "models:/explain-test@champion", "--out",
                                  str(tmp_path / "a"), uri=uri)
    assert code == 0, stderr
    assert lines[0]["model"] == {"name": "explain-test", "version": "1"}
    assert lines[0]["explanation"]["available"] is True and "exporting models:/explain-test/1" in stderr
    assert (tmp_path / "cache" / "bundles" / "explain-test-v1" / "explain.tflite").is_file()
    code, again, stderr = explain(tmp_path, photo, "--model", "models:/explain-test@champion", "--out",
                                  str(tmp_path / "b"), uri=uri)
    assert code == 0 and "exporting" not in stderr  # the cached bundle is reused
    assert again[0]["malignant_probability"] == lines[0]["malignant_probability"]

    code, by_run, stderr = explain(tmp_path, photo, "--run", runs[0], "--out", str(tmp_path / "c"), uri=uri)
    assert code == 0, stderr
    assert by_run[0]["model"]["version"] == f"run-{runs[0][:8]}"
    assert by_run[0]["malignant_probability"] == pytest.approx(lines[0]["malignant_probability"], abs=1e-6)
    code, _, stderr = explain(tmp_path, photo, "--model", "models:/nobody@champion", uri=uri)
    assert code == 1 and "cannot resolve 'models:/nobody@champion'" in stderr
