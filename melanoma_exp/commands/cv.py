"""`python run.py +cv=kfold cv.folds=5 ...`: one training run per fold under a parent MLflow run.

The base prepared dataset's train + val rows form the pool; `kfold.assign_folds` splits it by group
(lesion/patient) and stratifies by label; each fold trains on k−1 folds, validates on one, and is
scored on the same untouched test split. The parent run logs ``<metric>/mean`` and ``<metric>/std``
over folds (and ``cv_summary.json``); the return value — the sweep objective — is the mean over
folds of each fold's best ``trainer.monitor``.
"""

from __future__ import annotations

import copy
import json
import logging
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from omegaconf import DictConfig, open_dict

from melanoma_exp import DISCLAIMER
from melanoma_exp.commands.train import train
from melanoma_exp.data.cv_data import fold_split_column, write_fold_dataset
from melanoma_exp.data.kfold import assign_folds, summarize_folds
from melanoma_exp.tracking.tracker import MlflowTracker, flatten
from melanoma_exp.training.checkpoints import Checkpoints
from melanoma_exp.training.runtime import resolve_run_dir
from melanoma_exp.training.validate import validate_config

log = logging.getLogger(__name__)


def fold_config(cfg: DictConfig, fold: int, prepared_root: Path, run_dir: Path) -> DictConfig:
    """The config of one fold's training run (no CV, no sweep trial, its own data root and folder)."""
    fold_cfg = copy.deepcopy(cfg)
    with open_dict(fold_cfg):
        fold_cfg.cv = None
        if fold_cfg.get("sweep"):
            # Folds never report to the Optuna trial (the mean over folds is the trial's result);
            # the sweep node stays because other keys interpolate it (trainer.monitor).
            fold_cfg.sweep.trial_number = None
            fold_cfg.sweep.parent_run_id = None
        fold_cfg.data.prepared_root = str(prepared_root)
        fold_cfg.trainer.run_dir = str(run_dir)
        fold_cfg.tracking.run_name = f"{cfg.tracking.get('run_name') or cfg.model.name}-fold{fold}"
        if not cfg.cv.fold_checks and fold_cfg.get("eval") is not None:
            fold_cfg.eval.robustness.enabled = False
            fold_cfg.eval.ood.enabled = False
            fold_cfg.eval.tta = False
    return fold_cfg


def _parent_run(cfg: DictConfig, folds: int):
    """(MlflowClient, parent run id), or (None, None) with tracking off."""
    if str(cfg.tracking.backend) != "mlflow":
        return None, None
    from omegaconf import OmegaConf


    tracker = MlflowTracker(cfg.tracking)
    tags = {"cv.folds": str(folds), "model.name": str(cfg.model.name), "disclaimer": DISCLAIMER}
    parent_of_sweep = (cfg.get("sweep") or {}).get("parent_run_id") if cfg.get("sweep") else None
    if parent_of_sweep:
        tags["mlflow.parentRunId"] = str(parent_of_sweep)
    run = tracker.client.create_run(tracker._experiment_id(), run_name=f"{cfg.model.name}-cv{folds}", tags=tags)
    params = flatten(OmegaConf.to_container(cfg, resolve=True))
    from mlflow.entities import Param

    items = [Param(k, str(v)[:6000]) for k, v in params.items()]
    for start in range(0, len(items), 100):
        tracker.client.log_batch(run.info.run_id, params=items[start : start + 100])
    return tracker.client, run.info.run_id


def cross_validate(cfg: DictConfig) -> float:
    """Train and evaluate every fold; returns the mean over folds of the best `trainer.monitor`."""
    from melanoma_exp.data.prepare import INDEX, prepare_dataset
    from melanoma_exp.data.synth import ensure_synthetic_raw

    validate_config(cfg)  # every fold's settings, before the data work and TensorFlow
    folds, seed = int(cfg.cv.folds), int(cfg.cv.seed)
    if folds < 2:  # before any data work: a typo should fail in seconds
        raise ValueError(f"cv.folds must be >= 2, got {folds}")
    ensure_synthetic_raw(cfg.data)
    base = Path(prepare_dataset(cfg.data))
    index = pd.read_csv(base / INDEX, dtype=str, keep_default_na=False)
    pool = index[index["split"] != "test"]
    fold_ids = assign_folds(pool, folds, group_col=str(cfg.cv.group_by), seed=seed)
    run_root = resolve_run_dir(cfg)
    cv_root = base.parent / "cv" / f"{base.name}-k{folds}-s{seed}"
    client, parent_id = _parent_run(cfg, folds)
    results, status = [], "FAILED"
    try:
        for k in range(folds):
            log.info("cross-validation fold %d/%d", k + 1, folds)
            split = fold_split_column(index, fold_ids, k)
            write_fold_dataset(base, split, cv_root / f"fold-{k}" / base.name,
                               {"fold": k, "folds": folds, "seed": seed})
            fold_dir = run_root / f"fold-{k}"
            objective = train(fold_config(cfg, k, cv_root / f"fold-{k}", fold_dir))
            results.append(_fold_metrics(client, parent_id, Checkpoints(fold_dir).load_state(), k, objective))
        summary = summarize_folds(results)
        run_root.mkdir(parents=True, exist_ok=True)
        (run_root / "cv_summary.json").write_text(json.dumps({"folds": results, "summary": summary}, indent=2))
        if client is not None:
            _log_summary(client, parent_id, summary, run_root / "cv_summary.json")
        status = "FINISHED"
    finally:
        if client is not None:
            client.set_terminated(parent_id, status)
    objective = summary["objective"]["mean"]
    log.info("cross-validation: %s = %.4f ± %.4f over %d folds", cfg.trainer.monitor, objective,
             summary["objective"]["std"], folds)
    return objective if math.isfinite(objective) else float("nan")


def _fold_metrics(client, parent_id, state, fold: int, objective: float) -> dict[str, Any]:
    """The fold's final metrics (from its MLflow run when tracking) plus its objective."""
    metrics: dict[str, Any] = {"fold": fold, "objective": objective}
    if client is not None and state is not None and state.mlflow_run_id:
        client.set_tag(state.mlflow_run_id, "mlflow.parentRunId", parent_id)
        client.set_tag(state.mlflow_run_id, "cv.fold", str(fold))
        metrics.update(client.get_run(state.mlflow_run_id).data.metrics)
    elif state is not None and state.history:
        metrics.update({k: v for k, v in state.history[-1].items() if k != "epoch"})
    return metrics


def _log_summary(client, parent_id: str, summary: dict, summary_file: Path) -> None:
    import time

    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    metrics = [Metric(f"{name}/{stat}", float(values[stat]), now, 0)
               for name, values in summary.items() if name != "fold"
               for stat in ("mean", "std") if np.isfinite(values[stat])]
    for start in range(0, len(metrics), 500):
        client.log_batch(parent_id, metrics=metrics[start : start + 500])
    client.log_artifact(parent_id, str(summary_file))
