"""`fit(...)`: train one model from the composed config, resuming from the run folder's checkpoint.

prepared data -> model (new or resumed) -> phases of the unfreeze schedule -> best weights. The
job around it (tracking run, sweep trial, evaluation, registration) is `commands.train.train`.

The host pipeline feeds uint8 batches; `data.augment` (but its host-only ``capture`` preset) runs as
Keras layers in front of the classifier in a training model that shares its weights
(`training.augmentation`). `fit` compiles, trains and checkpoints that model and returns the
classifier, which holds no augmentation layer.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from melanoma_exp.models.build import build_model
from melanoma_exp.training.augmentation import augmentation_layer, split_settings, training_model
from melanoma_exp.training.checkpoints import Checkpoints, RunState
from melanoma_exp.training.runtime import configure_runtime, make_strategy
from melanoma_exp.training.unfreeze import UnfreezeSchedule

log = logging.getLogger(__name__)


class PrunedBySweep(Exception):
    """The sweep's pruner stopped this trial (the command turns it into optuna.TrialPruned)."""


def load_data(cfg: DictConfig) -> dict[str, Any]:
    """Generate (synthetic, if missing), prepare (idempotent), open train/val and class weights.

    The datasets yield uint8 images; only the ``capture`` preset, when set, augments on the host
    (the rest of `data.augment` runs inside the training step, `_load_or_build`).
    """
    from melanoma_exp.data.pipeline import class_weight, make_dataset
    from melanoma_exp.data.prepare import prepare_dataset
    from melanoma_exp.data.synth import ensure_synthetic_raw

    ensure_synthetic_raw(cfg.data)  # synthetic source only, and only when the raw folder is missing
    prepared = Path(prepare_dataset(cfg.data))
    batch, seed, balance = int(cfg.data.batch_size), int(cfg.trainer.seed), str(cfg.data.balance)
    _, on_host = split_settings(cfg.data.augment)
    return {
        "prepared": prepared,
        "train": make_dataset(prepared, "train", batch_size=batch, training=True, augment=on_host,
                              seed=seed, balance=balance, images_dtype="uint8", workers=cfg.data.workers),
        "val": make_dataset(prepared, "val", batch_size=batch, training=False, images_dtype="uint8",
                            workers=cfg.data.workers),
        "class_weight": class_weight(prepared, balance),
    }


def _load_or_build(cfg: DictConfig, checkpoints: Checkpoints, state: RunState, schedule):
    """The classifier, the training model around it (resumed, with its optimizer state, or new) and
    the phase it is in.

    Resuming rebuilds the model from the config, puts it in the saved phase (trainable flags,
    optimizer) and assigns the checkpoint's weights and optimizer state back.
    """
    from melanoma_exp.training.phases import enter_phase

    classifier = build_model(cfg.model, cfg.head, int(cfg.data.image_size))
    in_model, _ = split_settings(cfg.data.augment)
    model = training_model(classifier, augmentation_layer(in_model, int(cfg.trainer.seed)))
    if state.epoch > 0 and checkpoints.last.is_file():
        enter_phase(model, state.phase, cfg, schedule, model_phase=None)
        checkpoints.restore(model, checkpoints.last)
        return classifier, model, state.phase
    return classifier, model, None


def fit(cfg: DictConfig, checkpoints: Checkpoints, state: RunState, tracker, trial=None) -> tuple[Any, dict]:
    """Train through the unfreeze schedule from ``state`` on; return (classifier with its best weights,
    data). The classifier is `build_model`'s, without the training-time augmentation layers.

    Args:
        cfg: the validated, composed config.
        checkpoints: the run folder's checkpoints (resume point, best weights).
        state: the run state (epoch, phase, history); updated as epochs finish.
        tracker: where per-epoch metrics go (`tracking.make_tracker`).
        trial: the sweep's trial handle (``report``/``should_prune``), or None outside a sweep.

    Raises:
        PrunedBySweep: the sweep's pruner stopped the trial.
    """
    from melanoma_exp.training.phases import enter_phase, run_phase

    runtime = configure_runtime(cfg.trainer)
    tracker.set_tags({f"runtime.{k}": v for k, v in runtime.items()})
    data = load_data(cfg)
    schedule = UnfreezeSchedule.from_config(cfg.unfreeze)
    epochs = int(cfg.trainer.epochs)
    strategy = make_strategy(str(cfg.trainer.distribute))
    with strategy.scope():
        classifier, model, model_phase = _load_or_build(cfg, checkpoints, state, schedule)
    outcome = "done"
    while state.epoch < epochs:
        phase = max(schedule.phase_of(state.epoch), model_phase or 0)
        if outcome == "early" and phase == 0:
            if not schedule.unfreezes:
                break
            phase = 1  # head training plateaued early: go on to fine-tuning now
        end = epochs if phase == 1 or not schedule.unfreezes else min(schedule.after_epoch, epochs)
        if phase == 1 and model_phase != 1:
            state.boundary_epoch = state.epoch
            tracker.set_tags({"unfreeze.boundary_epoch": state.epoch})
            tracker.log_metrics({"train/unfreeze": float(state.epoch)}, step=state.epoch)
        with strategy.scope():
            enter_phase(model, phase, cfg, schedule, model_phase=model_phase)
        model_phase = phase
        outcome = run_phase(model, phase, state.epoch, end, cfg=cfg, data=data, state=state,
                            checkpoints=checkpoints, tracker=tracker, trial=trial)
        if outcome == "pruned":
            raise PrunedBySweep(f"pruned at epoch {state.epoch - 1} ({cfg.trainer.monitor})")
        if outcome == "nan" or (outcome == "early" and phase == 1):
            break
    if outcome == "nan":
        log.warning("training diverged (NaN); the objective is NaN")
    if checkpoints.best.is_file():
        checkpoints.restore(model, checkpoints.best, optimizer=False)
    return classifier, data
