"""Compile the model for a phase of the unfreeze schedule and run that phase's `fit`."""

from __future__ import annotations

import math
import warnings
from typing import Any

from melanoma_exp.training.callbacks import TrialReporter, make_callbacks
from melanoma_exp.training.unfreeze import (
    UnfreezeSchedule,
    carry_optimizer,
    freeze_backbone,
    unfreeze_backbone,
)


def compile_model(model, optimizer, cfg: Any) -> None:
    """Binary cross-entropy; accuracy, ROC AUC, PR AUC, precision and recall of malignant."""
    import keras

    threshold = float(cfg.trainer.threshold)
    jit = cfg.trainer.jit_compile
    model.compile(
        optimizer=optimizer,
        loss="binary_crossentropy",
        metrics=[
            keras.metrics.BinaryAccuracy(name="accuracy", threshold=threshold),
            keras.metrics.AUC(name="auc"),
            keras.metrics.AUC(curve="PR", name="pr_auc"),
            keras.metrics.Precision(name="precision", thresholds=threshold),
            keras.metrics.Recall(name="recall", thresholds=threshold),
        ],
        jit_compile=jit,
    )


def new_optimizer(cfg: Any, learning_rate: float | None = None):
    """Instantiate `optimizer` (a Hydra `_target_` node), optionally at another learning rate."""
    from hydra.utils import instantiate

    overrides = {} if learning_rate is None else {"learning_rate": learning_rate}
    return instantiate(cfg.optimizer, **overrides)


def enter_phase(model, phase: int, cfg: Any, schedule: UnfreezeSchedule, *, model_phase: int | None) -> None:
    """Set trainable flags and (re)compile for `phase`.

    Args:
        model: the classifier.
        phase: 0 (head only) or 1 (fine-tuning).
        schedule: the unfreeze schedule.
        model_phase: the phase the model (and its optimizer) is already in: None for a fresh model,
            the saved phase for a resumed one. Moving 0 -> 1 carries the optimizer state over.
    """
    base_lr = float(cfg.optimizer.learning_rate)
    if phase == model_phase and model.optimizer is not None:
        compile_model(model, model.optimizer, cfg)  # resumed: keep the restored optimizer
        return
    if phase == 0:
        freeze_backbone(model)
        compile_model(model, new_optimizer(cfg), cfg)
        return
    unfreeze_backbone(model, schedule.fraction, schedule.keep_bn_frozen)
    lr = base_lr * schedule.lr_factor
    old = model.optimizer if model_phase == 0 else None
    optimizer = carry_optimizer(old, model, lr) if old is not None and old.built else new_optimizer(cfg, lr)
    compile_model(model, optimizer, cfg)


def _fit(model, first: int, end: int, cfg, data, callbacks) -> None:
    with warnings.catch_warnings():
        # The pipeline's datasets are finite and already shuffled; Keras' notes about that are noise.
        warnings.filterwarnings("ignore", message=".*ran out of data.*")
        warnings.filterwarnings("ignore", message=".*shuffle=True.*")
        model.fit(
            data["train"],
            validation_data=data["val"],
            initial_epoch=first,
            epochs=end,
            steps_per_epoch=cfg.trainer.steps_per_epoch,
            class_weight=data.get("class_weight"),
            callbacks=callbacks,
            shuffle=False,
            verbose=int(cfg.trainer.verbose),
        )


def run_phase(model, phase: int, first: int, end: int, *, cfg, data, state, checkpoints, tracker, trial):
    """`fit` epochs [first, end) of one phase.

    Returns:
        "pruned" (the sweep's pruner stopped it), "nan" (loss or monitor became NaN),
        "early" (early stopping before `end`) or "done".
    """
    callbacks = make_callbacks(
        cfg.trainer, state=state, checkpoints=checkpoints, phase=phase, tracker=tracker, trial=trial
    )
    _fit(model, first, end, cfg, data, callbacks)
    reporter = next((c for c in callbacks if isinstance(c, TrialReporter)), None)
    if reporter is not None and reporter.pruned_at is not None:
        return "pruned"
    last = state.history[-1] if state.history else {}
    monitor = last.get(cfg.trainer.monitor, math.nan)
    if not state.history or math.isnan(last.get("train/loss", math.nan)) or math.isnan(monitor):
        return "nan"
    return "early" if state.epoch < end else "done"

