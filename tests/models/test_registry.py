"""Every registry entry builds and runs a forward pass (tiny input, weights=None); the model takes
0-255 RGB with the family's normalisation inside; weights errors are friendly."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading

import numpy as np
import pytest
from omegaconf import OmegaConf

from melanoma_exp.models.registry import BACKBONES, FAMILIES, UnknownModelError, get_backbone
from melanoma_exp.paths import project_root

# Large entries: >~5 s to build even at 32 px on 2 cores. Still run by `make test`.
LARGE = {"efficientnetv2s", "efficientnetv2m", "efficientnetv2l", "resnet101v2", "resnet152v2",
         "densenet169", "densenet201"}
HEAD = {"units": 8, "activation": "relu", "batch_norm": True, "dropout1": 0.2, "second_dense": True,
        "units2": 4, "dropout2": 0.1, "regularizer": "l2", "regularization": 1e-4}
PARAMS = [pytest.param(n, marks=pytest.mark.slow) if n in LARGE else n for n in BACKBONES]


def _build(name: str, size: int = 32, head: dict | None = None, weights=None):
    from melanoma_exp.models.build import build_model

    return build_model(OmegaConf.create({"name": name, "weights": weights}), OmegaConf.create(head or HEAD), size)


def test_registry_covers_the_contract_names():
    expected = {f"efficientnetv2{v}" for v in ("b0", "b1", "b2", "b3", "s", "m", "l")}
    expected |= {"resnet50v2", "resnet101v2", "resnet152v2", "densenet121", "densenet169", "densenet201"}
    expected |= {"efficientnet_lite0"}
    assert set(BACKBONES) == expected
    assert {spec.family for spec in BACKBONES.values()} == set(FAMILIES)
    assert set(FAMILIES) == {"efficientnetv2", "resnetv2", "densenet", "efficientnet_lite"}


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(UnknownModelError, match=r"Unknown model 'densnet201'.*densenet201"):
        get_backbone("densnet201")


@pytest.mark.parametrize("name", PARAMS)
def test_every_backbone_builds_and_predicts(name):
    model = _build(name)
    spec = get_backbone(name)
    assert model.name == f"melanoma_{name}"
    backbone = model.get_layer("backbone")
    assert not backbone.trainable  # frozen until the unfreeze schedule opens it
    # Grad-CAM's target layer (from the registry) exists and is the backbone's feature map.
    assert backbone.get_layer(spec.last_conv_layer).output.shape == backbone.output.shape
    out = model.predict(np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32"), verbose=0)
    assert out.shape == (2, 1)
    assert np.all((out >= 0) & (out <= 1))


@pytest.mark.parametrize("name", ["resnet50v2", "densenet121"])
def test_family_normalisation_matches_keras_preprocess_input(name):
    import keras

    model = _build(name)
    first = model.layers[1:model.layers.index(model.get_layer("backbone"))]
    x = np.random.default_rng(1).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    h = x
    for layer in first:
        h = layer(h)
    family = {"resnet50v2": keras.applications.resnet_v2, "densenet121": keras.applications.densenet}[name]
    np.testing.assert_allclose(np.asarray(h), family.preprocess_input(x.copy()), atol=1e-4)


def test_efficientnetv2_normalises_inside_the_backbone():
    model = _build("efficientnetv2b0")
    names = [layer.name for layer in model.get_layer("backbone").layers[:4]]
    assert any("rescaling" in n for n in names) and any("normalization" in n for n in names)


def test_head_follows_contract_6_order():
    model = _build("efficientnetv2b0")
    after = [layer.name for layer in model.layers[model.layers.index(model.get_layer("backbone")) + 1:]]
    assert after == ["head_pool", "head_bn", "head_dense1", "head_dropout1", "head_dense2", "head_dropout2",
                     "prediction"]
    assert model.get_layer("head_dense1").units == 8 and model.get_layer("head_dense2").units == 4
    assert model.get_layer("head_dropout1").rate == 0.2 and model.get_layer("head_dropout2").rate == 0.1
    assert model.get_layer("head_dense1").kernel_regularizer is not None
    minimal = {**HEAD, "batch_norm": False, "dropout1": 0.0, "second_dense": False, "regularizer": None}
    small = _build("efficientnetv2b0", head=minimal)
    after = [layer.name for layer in small.layers[small.layers.index(small.get_layer("backbone")) + 1:]]
    assert after == ["head_pool", "head_dense1", "prediction"]


def test_a_head_without_hidden_layer_is_pooling_then_prediction():
    """`head.units=null`: the thesis's first model (frozen base -> GAP -> Dense(1, sigmoid))."""
    from melanoma_exp.config import compose
    from melanoma_exp.models.build import build_model
    from melanoma_exp.training.validate import ConfigError, validate_config

    cfg = compose(["model.weights=null", "head.units=null", "head.dropout1=0", "unfreeze=frozen"])
    validate_config(cfg)
    model = build_model(cfg.model, cfg.head, 32)
    after = [layer.name for layer in model.layers[model.layers.index(model.get_layer("backbone")) + 1:]]
    assert after == ["head_pool", "prediction"]
    assert model.get_layer("prediction").kernel.shape == (model.get_layer("backbone").output.shape[-1], 1)
    for bad, key in ((["head.units=null"], "head.dropout1"),
                     (["head.units=null", "head.dropout1=0", "head.second_dense=true"], "head.second_dense")):
        with pytest.raises(ConfigError, match=f"{key}=.*head.units=null"):
            validate_config(compose(["model.weights=null", *bad]))


@pytest.mark.parametrize("name", ["densenet121", "efficientnet_lite0"])  # keras.applications' and our own
def test_saved_model_loads_without_project_code(tmp_path, name):
    path = tmp_path / "m.keras"
    model = _build(name)
    model.save(path)
    code = (
        "import sys, numpy as np, keras\n"
        f"m = keras.models.load_model({str(path)!r})\n"
        "print(m.predict(np.full((1, 32, 32, 3), 127.0, 'float32'), verbose=0).shape)\n"
        "print('melanoma_exp' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}, cwd="/")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["(1,", "1)", "False"]


def test_missing_weights_file_is_named(tmp_path):
    from melanoma_exp.models.build import WeightsUnavailableError

    with pytest.raises(WeightsUnavailableError, match="model.weights=.*no such file"):
        _build("efficientnetv2b0", weights=str(tmp_path / "nope.h5"))


def test_offline_imagenet_error_is_friendly(tmp_path):
    """A real download attempt through an unreachable proxy (deterministic 'no network'): it fails at
    once (the subprocess's timeout bounds it) and points to the backbone whose weights need no network."""
    code = (
        "from omegaconf import OmegaConf\n"
        "from melanoma_exp.models.build import build_model, WeightsUnavailableError\n"
        "try:\n"
        "    build_model(OmegaConf.create({'name': 'efficientnetv2b0', 'weights': 'imagenet'}),\n"
        f"                OmegaConf.create({HEAD!r}), 32)\n"
        "except WeightsUnavailableError as exc:\n"
        "    print('FRIENDLY', exc)\n"
    )
    env = {**os.environ, "KERAS_HOME": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "2",
           "HTTPS_PROXY": "http://127.0.0.1:9", "https_proxy": "http://127.0.0.1:9", "NO_PROXY": ""}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env,
                            cwd=project_root())
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "FRIENDLY" in out
    assert "model.weights=null" in out and str(tmp_path / "models") in out
    assert "Refusing to fall back to random weights" in out
    assert "model=efficientnet_lite0" in out


def test_a_stalled_download_fails_instead_of_waiting_forever(tmp_path):
    """A proxy that takes the connection and never answers (a firewall that swallows it): Keras's
    download has no timeout of its own and waited forever; the build gives up after the stall limit."""
    server = socket.create_server(("127.0.0.1", 0))
    held = []

    def hold_connections():
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:  # the server was closed
                return

    threading.Thread(target=hold_connections, daemon=True).start()
    proxy = f"http://127.0.0.1:{server.getsockname()[1]}"
    code = (
        "from omegaconf import OmegaConf\n"
        "import melanoma_exp.models.build as build\n"
        "build.DOWNLOAD_STALL_TIMEOUT_S = 2.0\n"
        "try:\n"
        "    build.build_model(OmegaConf.create({'name': 'efficientnetv2b0', 'weights': 'imagenet'}),\n"
        f"                      OmegaConf.create({HEAD!r}), 32)\n"
        "except build.WeightsUnavailableError as exc:\n"
        "    print('FRIENDLY', exc)\n"
    )
    env = {**os.environ, "KERAS_HOME": str(tmp_path), "TF_CPP_MIN_LOG_LEVEL": "2",
           "HTTPS_PROXY": proxy, "https_proxy": proxy, "NO_PROXY": "", "no_proxy": ""}
    try:
        result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                                env=env, cwd=project_root())
    finally:
        server.close()
        for connection in held:
            connection.close()
    assert held, "the download never reached the silent proxy"
    assert result.returncode == 0, result.stderr
    assert "FRIENDLY" in result.stdout and "timed out" in result.stdout
    assert "model=efficientnet_lite0" in result.stdout
