"""Keras callbacks of the trainer: contract-named metrics, checkpoints + state, sweep pruning.

Built from `trainer.*` by `make_callbacks`. Keras' own EarlyStopping and ReduceLROnPlateau run on the
Keras log keys; everything user-facing uses contract names (`val/accuracy`, ...).
"""

from __future__ import annotations

import math
import time
from typing import Any

import keras

from melanoma_exp.training.checkpoints import Checkpoints, RunState
from melanoma_exp.training.names import contract_logs, improved, keras_key, monitor_mode


class EpochRecorder(keras.callbacks.Callback):
    """After each epoch: rename metrics, log them, save last/best checkpoints and the run state.

    Args:
        state: the run state (updated in place, persisted every epoch).
        checkpoints: where to save.
        monitor: contract name of the monitored metric (`trainer.monitor`).
        phase: the phase these epochs belong to (logged as `train/phase`).
        tracker: a `melanoma_exp.tracking` tracker (MLflow or no-op).
    """

    def __init__(self, state: RunState, checkpoints: Checkpoints, monitor: str, phase: int, tracker):
        super().__init__()
        self.state = state
        self.checkpoints = checkpoints
        self.monitor = monitor
        self.mode = monitor_mode(monitor)
        self.phase = phase
        self.tracker = tracker

    def on_train_begin(self, logs: dict | None = None) -> None:
        # Logged per epoch so the phase boundary is visible as a jump in MLflow.
        self._trainable = float(sum(math.prod(v.shape) for v in self.model.trainable_weights))

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        # The rate this epoch trains with (ReduceLROnPlateau may lower it at the epoch's end).
        self._lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        self._started = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        metrics = contract_logs(logs)
        metrics["train/learning_rate"] = self._lr
        metrics["train/phase"] = float(self.phase)
        metrics["train/trainable_params"] = self._trainable
        metrics["train/epoch_seconds"] = time.perf_counter() - self._started  # fit + validation
        self.state.history.append({"epoch": epoch, **metrics})
        value = metrics.get(self.monitor, math.nan)
        self.state.epoch, self.state.phase = epoch + 1, self.phase
        self.checkpoints.save_model(self.model, self.checkpoints.last)
        if improved(value, self.state.best, self.mode):
            self.state.best, self.state.best_epoch = value, epoch
            self.checkpoints.copy_last_to_best()  # a hard link (or copy), not a second save
        metrics["train/checkpoint_seconds"] = time.perf_counter() - self._started - metrics["train/epoch_seconds"]
        self.state.history[-1]["train/checkpoint_seconds"] = metrics["train/checkpoint_seconds"]
        self.checkpoints.save_state(self.state)
        # Logged after the state is saved: a run killed in between re-runs nothing already logged.
        self.tracker.log_metrics(metrics, step=epoch)


class TrialReporter(keras.callbacks.Callback):
    """Report the monitored metric to the Optuna trial each epoch; stop when the pruner says so.

    The trainer raises `optuna.TrialPruned` after `fit` returns (so the run is tagged first).
    """

    def __init__(self, trial, monitor: str):
        super().__init__()
        self.trial = trial
        self.key = keras_key(monitor)
        self.pruned_at: int | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = float((logs or {}).get(self.key, math.nan))
        self.trial.report(value, step=epoch)
        if self.trial.should_prune():
            self.pruned_at = epoch
            self.model.stop_training = True


def make_callbacks(trainer_cfg: Any, *, state, checkpoints, phase, tracker, trial=None) -> list:
    """The callbacks for one phase's `fit`, in the order Keras calls them.

    Returns:
        `[TerminateOnNaN, EarlyStopping?, ReduceLROnPlateau?, EpochRecorder, TrialReporter?]`.
    """
    monitor = trainer_cfg.monitor
    key, mode = keras_key(monitor), monitor_mode(monitor)
    callbacks: list = [keras.callbacks.TerminateOnNaN()]
    early = trainer_cfg.early_stopping
    if early.enabled:
        callbacks.append(
            keras.callbacks.EarlyStopping(
                monitor=key,
                mode=mode,
                patience=int(early.patience),
                min_delta=float(early.min_delta),
                restore_best_weights=True,
            )
        )
    reduce = trainer_cfg.reduce_lr
    if reduce.enabled:
        callbacks.append(
            keras.callbacks.ReduceLROnPlateau(
                monitor=key,
                mode=mode,
                factor=float(reduce.factor),
                patience=int(reduce.patience),
                min_lr=float(reduce.min_lr),
            )
        )
    callbacks.append(EpochRecorder(state, checkpoints, monitor, phase, tracker))
    if trial is not None:
        callbacks.append(TrialReporter(trial, monitor))
    return callbacks
