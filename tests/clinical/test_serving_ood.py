"""The serving app answers `not_a_lesion` for a non-lesion photo when the bundle carries ood.tflite
(real bundle export, real LiteRT, real HTTP server on 127.0.0.1)."""

import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from melanoma_exp.paths import project_root

from .tiny_models import nested_classifier

sys.path.insert(0, str(project_root() / "tests" / "serving"))
from serving_helpers import free_port, wait_http  # noqa: E402


def _png(array) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.clip(array, 0, 255).astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


@pytest.fixture(scope="module")
def bundle(prepared_small, tmp_path_factory):
    from melanoma_exp.data.nonlesion import non_lesion_images
    from melanoma_exp.data.pipeline import make_dataset
    from melanoma_exp.evaluation.model_checks import images_from_dataset
    from melanoma_exp.evaluation.ood import MahalanobisOOD, feature_extractor
    from melanoma_exp.export.bundle import export_bundle

    model = nested_classifier()
    train = images_from_dataset(make_dataset(prepared_small, "train", batch_size=32, training=False))
    val = images_from_dataset(make_dataset(prepared_small, "val", batch_size=32, training=False))[0]
    non, _ = non_lesion_images(60, 32, seed=4, kinds=("flat", "noise"))
    embed = feature_extractor(model).predict
    detector = MahalanobisOOD(n_components=8).fit(embed(train[0], verbose=0), train[1])
    detector.fit_threshold(embed(val, verbose=0), embed(non, verbose=0))
    out = export_bundle(model, tmp_path_factory.mktemp("ood_bundle") / "bundle",
                        meta={"name": "ood-test", "version": "1", "threshold": 0.5},
                        ood={"detector": detector.to_dict()})
    return out, detector, model, val


def test_service_flags_a_flat_wall_but_not_a_lesion(bundle):
    from melanoma_exp.evaluation.ood import feature_extractor
    from serving.service import LesionService
    from serving.settings import Settings

    folder, detector, model, val = bundle
    service = LesionService(Settings(bundle_dir=folder))
    wall = np.full((400, 400, 3), (40, 160, 70), np.float32)  # a green wall, sharp enough, well lit
    wall += np.random.default_rng(0).normal(0, 12, wall.shape)
    answer = service.analyse(_png(wall))
    assert "not_a_lesion" in answer["quality"]["issues"] and answer["quality"]["ok"] is False
    assert "does not look like a photo of a skin lesion" in answer["recommendation"]["text"]
    assert answer["label"] in ("benign", "malignant") and answer["disclaimer"]

    # A lesion photo the detector accepts is not flagged by the served check either.
    accepted = ~detector.is_out_of_distribution(feature_extractor(model).predict(val, verbose=0))
    lesion = np.asarray(Image.fromarray(val[np.argmax(accepted)].astype(np.uint8)).resize((256, 256)), np.float32)
    assert "not_a_lesion" not in service.analyse(_png(lesion))["quality"]["issues"]


def test_http_answer_carries_the_issue_and_old_bundles_still_serve(bundle, tmp_path):
    import httpx

    folder = bundle[0]
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "serving.app:create_app", "--factory",
                             "--host", "127.0.0.1", "--port", str(port)], cwd=project_root(),
                            env={**os.environ, "MELANOMA_BUNDLE": str(folder)},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", timeout=60, proc=proc)  # fails loudly if never ready
        noise = np.random.default_rng(1).uniform(0, 255, (400, 400, 3))
        r = httpx.post(f"http://127.0.0.1:{port}/v1/predict", content=_png(noise),
                       headers={"Content-Type": "image/png"}, timeout=30)
        assert r.status_code == 200
        assert "not_a_lesion" in r.json()["quality"]["issues"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)

    # A bundle whose deployment dropped ood.tflite serves without the check instead of failing.
    from serving.service import LesionService
    from serving.settings import Settings

    copy = tmp_path / "bundle"
    copy.mkdir()
    for name in ("model.json", "model.tflite", "model_int8.tflite"):
        (copy / name).write_bytes((folder / name).read_bytes())
    assert json.loads((copy / "model.json").read_text())["ood"]
    assert LesionService(Settings(bundle_dir=copy)).ood is None
