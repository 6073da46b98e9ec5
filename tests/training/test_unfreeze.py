"""The unfreeze schedule on a real (tiny) model: which epochs are which phase, what opens, what
stays frozen, and that the optimizer state survives the switch."""

from __future__ import annotations

import math

import numpy as np
import pytest
from omegaconf import OmegaConf

from melanoma_exp.config import compose
from melanoma_exp.training.unfreeze import (
    UnfreezeSchedule,
    carry_optimizer,
    freeze_backbone,
    unfreeze_backbone,
)

HEAD = OmegaConf.create({"units": 8, "activation": "relu", "batch_norm": False, "dropout1": 0.0,
                         "second_dense": False, "units2": 4, "dropout2": 0.0, "regularizer": None,
                         "regularization": 0.0})


@pytest.fixture(scope="module")
def model():
    from melanoma_exp.models.build import build_model

    return build_model(OmegaConf.create({"name": "efficientnetv2b0", "weights": None}), HEAD, 32)


def _n_trainable(model) -> int:
    return sum(math.prod(v.shape) for v in model.trainable_weights)


def test_thesis_schedule_spans_and_resume_points():
    thesis = UnfreezeSchedule.from_config(compose(["unfreeze=thesis"]).unfreeze)
    assert thesis.phases(0, 30) == [(0, 0, 10), (1, 10, 30)]
    assert thesis.phases(4, 30) == [(0, 4, 10), (1, 10, 30)]
    assert thesis.phases(12, 30) == [(1, 12, 30)]
    assert thesis.phases(0, 5) == [(0, 0, 5)]
    assert [thesis.phase_of(e) for e in (0, 9, 10, 29)] == [0, 0, 1, 1]
    frozen = UnfreezeSchedule.from_config(compose(["unfreeze=frozen"]).unfreeze)
    assert frozen.phases(0, 7) == [(0, 0, 7)] and not frozen.unfreezes
    full = UnfreezeSchedule.from_config(compose(["unfreeze=full"]).unfreeze)
    assert full.phases(0, 7) == [(1, 0, 7)]


def test_unfreeze_opens_the_top_fraction_and_keeps_batchnorm_frozen(model):
    import keras

    freeze_backbone(model)
    head_only = _n_trainable(model)
    layers = [lyr for lyr in model.get_layer("backbone").layers if not isinstance(lyr, keras.layers.InputLayer)]
    opened = unfreeze_backbone(model, 0.5, keep_bn_frozen=True)
    half = round(len(layers) * 0.5)
    assert all(not lyr.trainable for lyr in layers[: len(layers) - half])
    top = layers[len(layers) - half :]
    assert all(lyr.trainable != isinstance(lyr, keras.layers.BatchNormalization) for lyr in top)
    assert opened == sum(not isinstance(lyr, keras.layers.BatchNormalization) for lyr in top)
    assert _n_trainable(model) > head_only
    no_bn_weights = _n_trainable(model)
    unfreeze_backbone(model, 0.5, keep_bn_frozen=False)
    assert _n_trainable(model) > no_bn_weights  # gamma/beta of the top half now train too
    unfreeze_backbone(model, 0.0, keep_bn_frozen=True)
    assert _n_trainable(model) == head_only
    freeze_backbone(model)


def test_optimizer_state_carries_over_the_boundary(model):
    import keras

    freeze_backbone(model)
    adam = keras.optimizers.Adam(learning_rate=1e-3)
    adam.build(model.trainable_variables)
    for _ in range(3):
        adam.apply_gradients([(np.ones(v.shape, "float32"), v) for v in model.trainable_variables])
    head_moments = {v.name: np.array(v) for v in adam.variables if "head_dense1" in v.name}
    assert head_moments and all(np.any(m != 0) for m in head_moments.values())

    unfreeze_backbone(model, 1.0, keep_bn_frozen=True)
    new = carry_optimizer(adam, model, learning_rate=1e-4)
    assert int(new.iterations) == 3
    assert float(new.learning_rate) == pytest.approx(1e-4)
    carried = {v.name: np.array(v) for v in new.variables if "head_dense1" in v.name}
    assert carried.keys() == head_moments.keys()
    for name, value in head_moments.items():
        np.testing.assert_array_equal(carried[name], value)
    backbone_slots = [np.array(v) for v in new.variables if "backbone" in v.path or "stem_conv" in v.name]
    assert backbone_slots and all(not np.any(s) for s in backbone_slots)  # fresh for the new weights
    # the new optimizer can step every newly trainable variable
    new.apply_gradients([(np.zeros(v.shape, "float32"), v) for v in model.trainable_variables])
    assert int(new.iterations) == 4
    freeze_backbone(model)
