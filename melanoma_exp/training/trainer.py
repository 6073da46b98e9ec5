"""`train(cfg)`: the whole training run behind `python run.py` — returns the objective.

validate config (no TF) -> run folder + tracker -> prepared data -> model (new or resumed) ->
phases of the unfreeze schedule -> best weights -> held-out evaluation, plots, report, Grad-CAM ->
model logged. The objective is the best value of `trainer.monitor` (NaN when training diverged).
"""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from melanoma_exp import DISCLAIMER
from melanoma_exp.training.checkpoints import Checkpoints, RunState
from melanoma_exp.training.runtime import resolve_run_dir
from melanoma_exp.training.validate import validate_config

log = logging.getLogger(__name__)


class PrunedBySweep(Exception):
    """Internal marker: the sweep's pruner stopped this trial (re-raised as optuna.TrialPruned)."""


def _sweep_trial(cfg: DictConfig):
    """The Optuna trial handle when this job runs inside a sweep, else None (lazy import)."""
    if not cfg.get("sweep"):
        return None
    from melanoma_exp.sweep.trial import trial_from_config

    return trial_from_config(cfg)


def train(cfg: DictConfig) -> float:
    """Train, evaluate and track one run described by the composed config.

    Args:
        cfg: the composed config (`conf/config.yaml` + overrides / experiment).

    Returns:
        The best value of `trainer.monitor` over all epochs; NaN when training diverged.

    Raises:
        melanoma_exp.training.validate.ConfigError: an invalid config value (before any TF work).
        optuna.TrialPruned: inside a sweep, when the pruner stopped the trial.
    """
    validate_config(cfg)
    from melanoma_exp.tracking import make_tracker

    run_dir = resolve_run_dir(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoints = Checkpoints(run_dir)
    state = checkpoints.load_state() if cfg.trainer.get("resume", True) else None
    if state is not None and state.finished:
        log.info("run folder %s holds a finished run; objective %s", run_dir, state.best)
        return _objective(state)
    trial = _sweep_trial(cfg)
    tracker = make_tracker(cfg.tracking)
    tags = {"model.name": cfg.model.name, "run_dir": str(run_dir), "disclaimer": DISCLAIMER}
    tags.update(trial.mlflow_tags() if trial is not None else {})
    run_name = cfg.tracking.get("run_name") or f"{cfg.model.name}-{time.strftime('%m%d-%H%M%S')}"
    tracker.start(cfg, run_name=run_name, tags=tags, resume_run_id=state.mlflow_run_id if state else None)
    if state is not None:
        log.info("resuming %s at epoch %d (phase %d)", run_dir, state.epoch, state.phase)
        tracker.set_tags({"resumed_at_epoch": state.epoch})
        _log_missing_epochs(tracker, state)
    state = state or RunState()
    state.mlflow_run_id = tracker.run_id
    try:
        objective = _train_and_evaluate(cfg, run_dir, checkpoints, state, tracker, trial)
    except PrunedBySweep as exc:
        import optuna

        tracker.set_tags({"optuna.state": "PRUNED"})
        tracker.end("KILLED")
        raise optuna.TrialPruned(str(exc)) from None
    except BaseException as exc:
        if trial is not None:
            tracker.set_tags({"optuna.state": "FAIL", "error": f"{type(exc).__name__}: {exc}"[:5000]})
        tracker.end("KILLED" if isinstance(exc, KeyboardInterrupt) else "FAILED")
        raise
    if trial is not None:
        tracker.set_tags({"optuna.state": "COMPLETE"})
    tracker.end("FINISHED")
    return objective


def _log_missing_epochs(tracker, state: RunState) -> None:
    """A kill between saving an epoch's state and logging it leaves a gap in MLflow: fill it."""
    logged = tracker.logged_steps("train/loss")
    for row in state.history:
        if row["epoch"] not in logged:
            tracker.log_metrics({k: v for k, v in row.items() if k != "epoch"}, step=row["epoch"])


def _objective(state: RunState) -> float:
    return float(state.best) if state.best is not None else math.nan


def load_data(cfg: DictConfig) -> dict[str, Any]:
    """Generate (synthetic, if missing), prepare (idempotent), open train/val and class weights."""
    from melanoma_exp.data.pipeline import class_weight, make_dataset
    from melanoma_exp.data.prepare import prepare_dataset
    from melanoma_exp.data.synth import ensure_synthetic_raw

    ensure_synthetic_raw(cfg.data)  # synthetic source only, and only when the raw folder is missing
    prepared = Path(prepare_dataset(cfg.data))
    batch, seed, balance = int(cfg.data.batch_size), int(cfg.trainer.seed), str(cfg.data.balance)
    return {
        "prepared": prepared,
        "train": make_dataset(prepared, "train", batch_size=batch, training=True,
                              augment=cfg.data.get("augment"), seed=seed, balance=balance),
        "val": make_dataset(prepared, "val", batch_size=batch, training=False),
        "class_weight": class_weight(prepared, balance),
    }


def _load_or_build(cfg: DictConfig, checkpoints: Checkpoints, state: RunState, schedule):
    """The resumed model (with its optimizer state) or a new one; and the phase it is in.

    Resuming rebuilds the model from the config, puts it in the saved phase (trainable flags,
    optimizer) and assigns the checkpoint's weights and optimizer state back.
    """
    from melanoma_exp.models.build import build_model
    from melanoma_exp.training.phases import enter_phase

    model = build_model(cfg.model, cfg.head, int(cfg.data.image_size))
    if state.epoch > 0 and checkpoints.last.is_file():
        enter_phase(model, state.phase, cfg, schedule, model_phase=None)
        checkpoints.restore(model, checkpoints.last)
        return model, state.phase
    return model, None


def _train_and_evaluate(cfg, run_dir: Path, checkpoints, state: RunState, tracker, trial) -> float:
    from melanoma_exp.evaluation.evaluate import evaluate_run
    from melanoma_exp.training.phases import enter_phase, run_phase
    from melanoma_exp.training.runtime import configure_runtime, make_strategy
    from melanoma_exp.training.unfreeze import UnfreezeSchedule

    runtime = configure_runtime(cfg.trainer)
    tracker.set_tags({f"runtime.{k}": v for k, v in runtime.items()})
    data = load_data(cfg)
    schedule = UnfreezeSchedule.from_config(cfg.unfreeze)
    epochs = int(cfg.trainer.epochs)
    strategy = make_strategy(str(cfg.trainer.distribute))
    with strategy.scope():
        model, model_phase = _load_or_build(cfg, checkpoints, state, schedule)
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
    evaluate_run(model, cfg, data["prepared"], run_dir, tracker, state)
    tracker.log_model(model)
    if cfg.tracking.get("register") and tracker.run_id:
        tracker.register(str(cfg.tracking.registered_model_name))
    state.finished = True
    checkpoints.save_state(state)
    return _objective(state)
