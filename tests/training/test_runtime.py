"""Run folder resolution, precision/XLA choice and the distribution strategy."""

from __future__ import annotations

from pathlib import Path

from melanoma_exp.config import compose
from melanoma_exp.training.runtime import configure_runtime, make_strategy, resolve_run_dir


def test_run_dir_comes_from_the_config_or_a_fresh_folder_under_outputs(tmp_path):
    cfg = compose([f"paths.output_dir={tmp_path}", f"trainer.run_dir={tmp_path / 'mine'}"])
    assert resolve_run_dir(cfg) == tmp_path / "mine"
    cfg = compose([f"paths.output_dir={tmp_path}", "model=densenet121"])
    run_dir = resolve_run_dir(cfg)
    assert run_dir.is_absolute() and run_dir.parent.parent == Path(tmp_path) / "runs"
    assert run_dir.name.endswith("_densenet121")


def test_auto_mixed_precision_is_off_without_a_gpu():
    import keras
    import tensorflow as tf

    info = configure_runtime(compose([]).trainer)
    has_gpu = bool(tf.config.list_physical_devices("GPU"))
    assert info["mixed_precision"] is has_gpu
    assert keras.mixed_precision.global_policy().name == ("mixed_float16" if has_gpu else "float32")
    forced = configure_runtime(compose(["trainer.mixed_precision=true"]).trainer)
    assert forced["mixed_precision"] and keras.mixed_precision.global_policy().name == "mixed_float16"
    configure_runtime(compose(["trainer.mixed_precision=false"]).trainer)
    assert keras.mixed_precision.global_policy().name == "float32"


def test_mirrored_strategy_builds_a_model_in_scope():
    import tensorflow as tf
    from omegaconf import OmegaConf

    from melanoma_exp.models.build import build_model

    strategy = make_strategy("mirrored")
    assert isinstance(strategy, tf.distribute.MirroredStrategy) and strategy.num_replicas_in_sync >= 1
    head = OmegaConf.create({"units": 4, "activation": "relu", "batch_norm": False, "dropout1": 0.0,
                             "second_dense": False, "units2": 4, "dropout2": 0.0, "regularizer": None,
                             "regularization": 0.0})
    with strategy.scope():
        model = build_model(OmegaConf.create({"name": "efficientnetv2b0", "weights": None}), head, 32)
    assert isinstance(model.get_layer("prediction").kernel.value, tf.distribute.DistributedValues)
    assert make_strategy("none") is tf.distribute.get_strategy()


def test_backend_choice_is_refused_with_the_reason(monkeypatch):
    import importlib.util
    import sys

    import keras
    import pytest

    from melanoma_exp.training.runtime import select_backend

    assert keras.backend.backend() == "tensorflow" and select_backend("tensorflow") == "tensorflow"
    with pytest.raises(RuntimeError, match="trainer.backend=jax but Keras was already imported on 'tensorflow'"):
        select_backend("jax")
    with pytest.raises(Exception, match="backend"):
        compose(["trainer.backend=torch"])  # not a choice of the schema
    # before Keras is imported: a missing backend package is named with the way to install it
    monkeypatch.delitem(sys.modules, "keras")
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "jax" else real_find_spec(name, *a))
    with pytest.raises(RuntimeError, match=r"trainer.backend=jax needs the pinned jax and jaxlib"):
        select_backend("jax")
