"""`train(cfg) -> float`: the job behind `python run.py` — one tracked, evaluated, registered run.

validate config (no TF) -> run folder + tracking run (+ sweep trial) -> `training.fit` -> held-out
evaluation, plots, report, Grad-CAM -> model logged (and registered when `tracking.register`).
Returns the objective: the best value of `trainer.monitor` (NaN when training diverged).
"""

from __future__ import annotations

import logging
import math
import time

from omegaconf import DictConfig

from melanoma_exp import DISCLAIMER
from melanoma_exp.export.registry import register_run
from melanoma_exp.sweep.trial import trial_from_config
from melanoma_exp.tracking import make_tracker
from melanoma_exp.training.checkpoints import Checkpoints, RunState
from melanoma_exp.training.runtime import resolve_run_dir
from melanoma_exp.training.trainer import PrunedBySweep, fit
from melanoma_exp.training.validate import validate_config

log = logging.getLogger(__name__)


def _sweep_trial(cfg: DictConfig):
    """The Optuna trial handle when this job runs inside a sweep, else None (lazy import)."""
    if not cfg.get("sweep"):
        return None
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
    run_dir = resolve_run_dir(cfg)
    run_dir.mkdir(parents=True, exist_ok=True)
    checkpoints = Checkpoints(run_dir)
    state = checkpoints.load_state() if cfg.trainer.resume else None
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




def _train_and_evaluate(cfg: DictConfig, run_dir, checkpoints: Checkpoints, state: RunState, tracker,
                        trial) -> float:
    from melanoma_exp.evaluation.evaluate import evaluate_run  # TensorFlow

    model, data = fit(cfg, checkpoints, state, tracker, trial)
    evaluate_run(model, cfg, data["prepared"], run_dir, tracker, state)
    tracker.log_model(model)
    if cfg.tracking.get("register") and tracker.run_id:
        register_run(tracker.run_id, str(cfg.tracking.registered_model_name))
    state.finished = True
    checkpoints.save_state(state)
    return _objective(state)
