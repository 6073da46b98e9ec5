"""Serving-side TTA (`MELANOMA_TTA`) matches the evaluation's TTA on the same preprocessed image."""

import io

import numpy as np
import pytest
from PIL import Image

from .tiny_models import nested_classifier


def test_serving_transforms_equal_the_evaluation_transforms():
    from melanoma_exp.evaluation import tta as clinical_tta
    from serving import tta as serving_tta

    assert serving_tta.TRANSFORMS == clinical_tta.TRANSFORMS
    image = np.random.default_rng(0).uniform(0, 255, (5, 5, 3))
    for name in serving_tta.TRANSFORMS:
        np.testing.assert_array_equal(serving_tta.transform(image, name),
                                      clinical_tta.transform_numpy(image[None], name)[0])


def test_service_with_tta_equals_the_keras_tta_model(tmp_path, monkeypatch):
    from melanoma_exp.evaluation.tta import tta_model
    from melanoma_exp.export.bundle import export_bundle
    from serving.decode import decode_image, to_model_input
    from serving.service import LesionService
    from serving.settings import Settings

    model = nested_classifier()
    bundle = export_bundle(model, tmp_path / "bundle", meta={"name": "tta", "version": "1", "threshold": 0.5})
    rng = np.random.default_rng(1)
    photo = np.clip(np.linspace(40, 220, 300)[None, :, None] + rng.normal(0, 20, (300, 300, 3)), 0, 255)
    buf = io.BytesIO()
    Image.fromarray(photo.astype(np.uint8)).save(buf, "PNG")

    monkeypatch.setenv("MELANOMA_TTA", "hflip,vflip,rot90")
    service = LesionService(Settings.from_env(bundle_dir=bundle))
    assert service.settings.tta == ("identity", "hflip", "vflip", "rot90")
    served = service.analyse(buf.getvalue())["malignant_probability"]

    spec = service.input
    decoded = decode_image(buf.getvalue(), min_side=service.decode_side, max_pixels=10**8)
    pixels = to_model_input(decoded.image, height=spec.height, width=spec.width,
                            resize_method=spec.resize_method, resize_aspect=spec.resize_aspect)
    expected = tta_model(model, ("identity", "hflip", "vflip", "rot90")).predict(pixels[None], verbose=0).item()
    plain = model.predict(pixels[None], verbose=0).item()
    assert served == pytest.approx(expected, abs=1e-5)
    assert abs(expected - plain) > 1e-6  # the model is not flip-invariant: TTA really ran


def test_bad_tta_setting_names_the_variable(monkeypatch):
    from serving.settings import Settings

    monkeypatch.setenv("MELANOMA_TTA", "hflip,shear")
    with pytest.raises(ValueError, match="MELANOMA_TTA: unknown transform"):
        Settings.from_env()
