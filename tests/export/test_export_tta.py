"""`melanoma export --tta`: test-time augmentation baked into the bundle's models, served unchanged."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest
from PIL import Image

from melanoma_exp.commands.main import main
from melanoma_exp.export.bundle import export_bundle

TTA = ["identity", "hflip", "vflip", "rot90"]


def _photo(seed: int = 1) -> bytes:
    rng = np.random.default_rng(seed)
    photo = np.clip(np.linspace(40, 220, 300)[None, :, None] + rng.normal(0, 20, (300, 300, 3)), 0, 255)
    buf = io.BytesIO()
    Image.fromarray(photo.astype(np.uint8)).save(buf, "PNG")
    return buf.getvalue()


def _serve(bundle, data: bytes, **settings) -> dict:
    from serving.service import LesionService
    from serving.settings import Settings

    return LesionService(Settings(bundle_dir=bundle, **settings)).analyse(data)


def _pixels(bundle, data: bytes) -> np.ndarray:
    """The preprocessed model input serving computes for ``data``."""
    from serving.decode import decode_image, to_model_input
    from serving.service import LesionService
    from serving.settings import Settings

    service = LesionService(Settings(bundle_dir=bundle))
    decoded = decode_image(data, min_side=service.decode_side, max_pixels=10**8)
    spec = service.input
    return to_model_input(decoded.image, height=spec.height, width=spec.width,
                          resize_method=spec.resize_method, resize_aspect=spec.resize_aspect)


def test_tta_bundle_of_a_flip_invariant_model_serves_the_same_probability(tmp_path):
    import keras

    inputs = keras.Input((32, 32, 3))
    dense = keras.layers.Dense(1, activation="sigmoid")
    model = keras.Model(inputs, dense(keras.layers.GlobalAveragePooling2D()(inputs)))  # ignores orientation
    dense.set_weights([np.full((3, 1), 1 / 36, "float32"), np.array([-128 / 12], "float32")])
    meta = {"name": "invariant", "version": "1", "threshold": 0.5}
    plain = export_bundle(model, tmp_path / "plain", meta=meta, progress=False)
    tta = export_bundle(model, tmp_path / "tta", meta=meta, tta=TTA, progress=False)

    data = _photo()
    for variant in ("float", "int8"):
        with_tta = _serve(tta, data, model_variant=variant)["malignant_probability"]
        assert with_tta == pytest.approx(_serve(plain, data, model_variant=variant)["malignant_probability"],
                                         abs=1e-5)
    assert json.loads((plain / "model.json").read_text())["tta"] is None
    entry = json.loads((tta / "model.json").read_text())["tta"]
    assert entry["in_model"] is True and entry["transforms"] == TTA and entry["model_calls"] == 4
    assert "Test-time augmentation inside the model: the average of 4 views" in (tta / "MODEL_CARD.md").read_text()
    assert "Test-time augmentation" not in (plain / "MODEL_CARD.md").read_text()


def test_export_cli_tta_bakes_the_serving_transforms_into_the_litert_model(mlflow_store, tmp_path, capsys):
    import mlflow

    from serving.tta import predict_tta

    uri, runs = mlflow_store
    out = tmp_path / "tta"
    assert main(["export", runs[0], "--out", str(out), "--no-log", "--tta", "--tracking-uri", uri]) == 0
    assert "do not also set MELANOMA_TTA" in capsys.readouterr().out
    assert json.loads((out / "model.json").read_text())["tta"]["transforms"] == TTA

    data = _photo()
    served = _serve(out, data)["malignant_probability"]
    keras_model = mlflow.keras.load_model(f"runs:/{runs[0]}/model")  # the plain registered model
    pixels = _pixels(out, data)
    predict = lambda x: float(keras_model.predict(x[None], verbose=0).item())  # noqa: E731
    # Same number as serving the plain model with MELANOMA_TTA=hflip,vflip,rot90 ...
    assert served == pytest.approx(predict_tta(predict, pixels, TTA), abs=1e-5)
    assert abs(served - predict(pixels)) > 1e-6  # ... and this CNN is not flip-invariant: TTA really ran
    # The reference model.keras is plain Keras (no project class needed to load it).
    with zipfile.ZipFile(out / "model.keras") as archive:
        assert "melanoma_exp" not in archive.read("config.json").decode()


def test_unknown_tta_transform_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["export", "some-run", "--out", "x", "--tta", "hflip,shear"])
    assert exc.value.code == 2
    assert "unknown transform(s) ['shear']" in capsys.readouterr().err
