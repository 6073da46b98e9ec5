"""Checkpoints are arrays (weights + optimizer state) assigned back into a model rebuilt from the
run's config: the round trip is exact, and a changed config is named instead of trained on."""

from __future__ import annotations

import numpy as np
import pytest

from melanoma_exp.config import compose
from melanoma_exp.training.checkpoints import Checkpoints
from melanoma_exp.training.phases import enter_phase
from melanoma_exp.training.unfreeze import UnfreezeSchedule

OVERRIDES = ["+experiment=smoke", "data.image_size=32"]


def _model(cfg, phase: int):
    from melanoma_exp.models.build import build_model

    model = build_model(cfg.model, cfg.head, int(cfg.data.image_size))
    enter_phase(model, phase, cfg, UnfreezeSchedule.from_config(cfg.unfreeze), model_phase=None)
    return model


def _step(model, n: int = 2) -> None:
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    model.fit(x, np.array([0, 1, 0, 1], "float32"), epochs=n, batch_size=4, verbose=0)


def test_round_trip_restores_weights_and_optimizer_state_in_the_fine_tuning_phase(tmp_path):
    cfg = compose(OVERRIDES)
    trained = _model(cfg, phase=1)
    _step(trained)
    trained.optimizer.learning_rate.assign(1.25e-5)  # as ReduceLROnPlateau would
    checkpoints = Checkpoints(tmp_path)
    checkpoints.save_model(trained, checkpoints.last)

    resumed = _model(cfg, phase=1)
    checkpoints.restore(resumed, checkpoints.last)
    for a, b in zip(trained.weights, resumed.weights, strict=True):
        np.testing.assert_array_equal(np.array(a), np.array(b))
    assert int(resumed.optimizer.iterations) == int(trained.optimizer.iterations) == 2
    assert float(resumed.optimizer.learning_rate) == pytest.approx(1.25e-5)
    for a, b in zip(trained.optimizer.variables, resumed.optimizer.variables, strict=True):
        np.testing.assert_array_equal(np.array(a), np.array(b))
    x = np.random.default_rng(1).uniform(0, 255, (3, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(resumed.predict(x, verbose=0), trained.predict(x, verbose=0), rtol=1e-6)


def test_best_checkpoint_is_a_link_not_a_second_write(tmp_path):
    cfg = compose(OVERRIDES)
    model = _model(cfg, phase=0)
    _step(model, 1)
    checkpoints = Checkpoints(tmp_path)
    checkpoints.save_model(model, checkpoints.last)
    checkpoints.copy_last_to_best()
    assert checkpoints.best.stat().st_ino == checkpoints.last.stat().st_ino
    checkpoints.save_model(model, checkpoints.last)  # the next epoch replaces last, best stays
    assert checkpoints.best.stat().st_ino != checkpoints.last.stat().st_ino and checkpoints.best.is_file()


def test_a_changed_config_is_named_not_trained_on(tmp_path):
    checkpoints = Checkpoints(tmp_path)
    model = _model(compose(OVERRIDES), phase=0)
    _step(model, 1)
    checkpoints.save_model(model, checkpoints.last)
    other = _model(compose([*OVERRIDES, "head.units=24"]), phase=0)
    with pytest.raises(ValueError, match=r"last\.npz.*config changed"):
        checkpoints.restore(other, checkpoints.last)
