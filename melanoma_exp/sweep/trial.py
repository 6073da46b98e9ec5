"""The handle a training job uses to talk to its Optuna trial.

The sweeper starts each job with the overrides `sweep.trial_number=N` and `sweep.parent_run_id=ID`
(the MLflow parent run of that sweep invocation). The job finds its trial in the storage by that
number — never by matching parameters — so it works the same in-process (basic launcher) and in
another process or on another machine (joblib, submitit).

Trainer side (the contract):

    handle = trial_from_config(cfg)          # None outside a sweep
    ...each epoch: handle.report(value, step=epoch_index)   # 0-based, as Keras gives it
                   if handle.should_prune(): tag run optuna.state=PRUNED; raise optuna.TrialPruned()
    mlflow run tags: handle.mlflow_tags()    # parent run id, study name, trial number

The job returns its objective (a float, NaN allowed); the sweeper turns the return value,
`optuna.TrialPruned` and exceptions into COMPLETE / PRUNED / FAIL.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from melanoma_exp.sweep.study import open_study


@dataclass
class TrialHandle:
    """One running Optuna trial, reached through the storage."""

    study_name: str
    number: int
    trial: Any  # optuna.trial.Trial
    parent_run_id: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def report(self, value: float, step: int) -> None:
        """Record the monitored metric for epoch `step` (NaN/inf are skipped: they cannot rank)."""
        value = float(value)
        if math.isfinite(value):
            self.trial.report(value, int(step))

    def should_prune(self) -> bool:
        """Ask the study's pruner whether this trial should stop now."""
        return bool(self.trial.should_prune())

    def mlflow_tags(self) -> dict[str, str]:
        """Tags that make the job's MLflow run a child of the sweep's parent run."""
        tags = {
            "optuna.study_name": self.study_name,
            "optuna.trial_number": str(self.number),
            "optuna.state": "RUNNING",
        }
        if self.parent_run_id:
            tags["mlflow.parentRunId"] = self.parent_run_id
        return tags


def trial_from_config(cfg: Any) -> TrialHandle | None:
    """The handle for the trial this job runs, or None when the job is not part of a sweep.

    Args:
        cfg: the job's composed config; reads `cfg.sweep.{storage, study_name, trial_number,
            parent_run_id, pruner}`.

    Returns:
        A `TrialHandle`, or None if `cfg.sweep` is absent/null or carries no trial number.
    """
    sweep = cfg.get("sweep") if hasattr(cfg, "get") else None
    if not sweep or sweep.get("trial_number") is None:
        return None
    import optuna


    study = open_study(sweep)
    number = int(sweep["trial_number"])
    try:
        trial_id = study._storage.get_trial_id_from_study_id_trial_number(study._study_id, number)
    except KeyError as exc:
        raise KeyError(
            f"sweep.trial_number={number}: no such trial in study {study.study_name!r}"
        ) from exc
    trial = optuna.trial.Trial(study, trial_id)
    return TrialHandle(
        study_name=study.study_name,
        number=number,
        trial=trial,
        parent_run_id=sweep.get("parent_run_id") or None,
        params=dict(trial.params),
    )
