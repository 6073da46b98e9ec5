"""What a sweep leaves behind: the MLflow parent run with one child per trial, Optuna's plots, and
the best trial as an experiment file (`python run.py +experiment=best_<study>` retrains it).

MLflow is driven through `MlflowClient` only: a fluent active run in the sweeper process would
collide with the trainer's own `mlflow.start_run()` when jobs run in-process.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from melanoma_exp.paths import conf_dir, project_root
from melanoma_exp.sweep.progress import ERROR_ATTR, progress
from melanoma_exp.sweep.space import format_value
from melanoma_exp.tracking.tracker import artifact_location, experiment_id, resolve_tracking_uri

log = logging.getLogger(__name__)

PLOTS = (
    "plot_optimization_history",
    "plot_param_importances",
    "plot_parallel_coordinate",
    "plot_intermediate_values",
)


def tracking_settings(config: Any) -> tuple[str, str, str | None] | None:
    """(tracking URI, experiment name, artifact location) from `config.tracking`, or None if off."""
    tracking = config.get("tracking")
    if not tracking:
        return None
    if str(tracking.get("backend", tracking.get("name", "mlflow"))).lower() == "none":
        return None
    if tracking.get("enabled", True) is False:
        return None

    name = tracking.get("experiment_name") or config.get("task_name")
    return resolve_tracking_uri(tracking), str(name or "sweep"), artifact_location(tracking)


class SweepTracker:
    """The MLflow parent run of one sweep invocation and the child runs of its trials."""

    def __init__(self, uri: str, experiment: str, artifact_location: str | None) -> None:
        from mlflow.tracking import MlflowClient


        self.client = MlflowClient(tracking_uri=uri)
        self.experiment_id = experiment_id(self.client, experiment, artifact_location)
        self.run_id: str | None = None

    def start(self, study_name: str, metric: str, direction: str) -> str:
        """Create the parent run; returns its id (passed to every job)."""
        run = self.client.create_run(
            self.experiment_id,
            run_name=f"sweep-{study_name}",
            tags={
                "optuna.study_name": study_name,
                "optuna.role": "sweep",
                "optuna.metric": metric,
                "optuna.direction": direction,
            },
        )
        self.run_id = run.info.run_id
        return self.run_id

    def _child(self, number: int):
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=(
                f"tags.`mlflow.parentRunId` = '{self.run_id}' "
                f"and tags.`optuna.trial_number` = '{number}'"
            ),
            max_results=1,
        )
        return runs[0] if runs else None

    def record_trial(self, study_name: str, trial: Any) -> None:
        """Tag the job's child run with the trial's final state, creating it if the job made none."""
        from optuna.trial import TrialState


        state = trial.state.name
        error = trial.user_attrs.get(ERROR_ATTR)
        child = self._child(trial.number)
        if child is None:  # the job failed before its own run started, or does not track
            status = {"COMPLETE": "FINISHED", "PRUNED": "KILLED"}.get(state, "FAILED")
            run = self.client.create_run(
                self.experiment_id,
                run_name=f"trial-{trial.number}",
                tags={
                    "mlflow.parentRunId": self.run_id,
                    "optuna.study_name": study_name,
                    "optuna.trial_number": str(trial.number),
                },
            )
            for key, value in trial.params.items():
                self.client.log_param(run.info.run_id, key, value)
            if trial.state == TrialState.COMPLETE and trial.value is not None:
                self.client.log_metric(run.info.run_id, "objective", trial.value)
            self.client.set_terminated(run.info.run_id, status=status)
            run_id = run.info.run_id
        else:
            run_id = child.info.run_id
        self.client.set_tag(run_id, "optuna.state", state)
        if error:
            self.client.set_tag(run_id, "optuna.error", str(error)[:4000])

    def best_run_id(self, study: Any) -> str | None:
        """The MLflow run of the study's best trial (any worker's), or None."""
        best = best_trial(study)
        if best is None:
            return None
        runs = self.client.search_runs(
            [self.experiment_id],
            filter_string=(
                f"tags.`optuna.study_name` = '{study.study_name}' "
                f"and tags.`optuna.trial_number` = '{best.number}'"
            ),
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        return runs[0].info.run_id if runs else None

    def finish(self, study: Any, status: str, out_dir: Path, best_file: Path | None) -> None:
        """Log the study's best value/params, the plots and the best experiment file; end the run."""

        counts = progress(study)
        for key in ("complete", "pruned", "failed"):
            self.client.log_metric(self.run_id, f"trials/{key}", getattr(counts, key))
        best = best_trial(study)
        if best is not None:
            self.client.log_metric(self.run_id, "best_value", best.value)
            self.client.set_tag(self.run_id, "optuna.best_trial", str(best.number))
            best_run = self.best_run_id(study)
            if best_run:
                self.client.set_tag(self.run_id, "optuna.best_run_id", best_run)
            for key, value in best.params.items():
                self.client.log_param(self.run_id, f"best.{key}", value)
        for path in save_plots(study, out_dir / "plots"):
            self.client.log_artifact(self.run_id, str(path), artifact_path="plots")
        if best_file is not None:
            self.client.log_artifact(self.run_id, str(best_file))
        self.client.set_terminated(self.run_id, status=status)


def best_trial(study: Any):
    """The best COMPLETE trial, or None while there is none."""
    try:
        return study.best_trial
    except ValueError:
        return None


def save_plots(study: Any, out_dir: Path) -> list[Path]:
    """Optuna's matplotlib plots as PNGs; a plot that cannot be drawn yet is skipped with a note."""
    import warnings

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna.visualization.matplotlib as ovm

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in PLOTS:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ax = getattr(ovm, name)(study)
        except Exception as exc:  # e.g. importances need two complete trials
            log.info("sweep: skipped %s (%s)", name, exc)
            continue
        figure = (ax.flat[0] if hasattr(ax, "flat") else ax).figure
        path = out_dir / f"{name.removeprefix('plot_')}.png"
        figure.savefig(path, dpi=100, bbox_inches="tight")
        plt.close(figure)
        written.append(path)
    return written


def experiment_name(study_name: str) -> str:
    """`best_<study>` with characters Hydra config names dislike replaced."""
    return "best_" + re.sub(r"[^A-Za-z0-9_]+", "_", study_name).strip("_")


def write_best_experiment(
    study: Any, base_overrides: list[str], groups: set[str], out_dir: Path, metric: str
) -> Path | None:
    """Write the best trial as `out_dir/best_<study>.yaml` (a `# @package _global_` recipe).

    Args:
        study: the study.
        base_overrides: the sweep's fixed command-line overrides (`model=densenet201`, ...).
        groups: names of config groups (from `hydra.runtime.choices`): their overrides become
            defaults-list entries, everything else a value.
        out_dir: the folder Hydra reads `+experiment=NAME` from.
        metric: the optimised metric, for the header comment.

    Returns:
        The file written, or None when the study has no complete trial yet.
    """
    import yaml


    best = best_trial(study)
    if best is None:
        return None
    overrides = [o for o in base_overrides if not _is_sweep_machinery(o)]
    overrides += [f"{k}={format_value(v)}" for k, v in best.params.items()]
    includes, group_choices, values = [], {}, {}
    for text in overrides:
        key, _, value = text.lstrip("+~").partition("=")
        if key == "experiment":
            includes.append(f"/experiment/{value}")
        elif key in groups:
            group_choices[key] = value
        else:
            values[key] = yaml.safe_load(value) if value else None
    tree = OmegaConf.create({})
    for key, value in values.items():
        OmegaConf.update(tree, key, value, force_add=True)
    defaults = includes + ["_self_"] + [{f"override /{g}": c} for g, c in group_choices.items()]
    body = OmegaConf.to_container(tree)
    name = experiment_name(study.study_name)
    header = (
        "# @package _global_\n"
        f"# Best trial {best.number} of Optuna study {study.study_name!r}: {metric} = {best.value:.6g}.\n"
        f"# Written by the sweeper; retrain it with: {retrain_command(out_dir / f'{name}.yaml')}\n"
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.yaml"
    path.write_text(header + yaml.safe_dump({"defaults": defaults, **body}, sort_keys=False))
    return path


def retrain_command(best_file: Path) -> str:
    """`python run.py +experiment=best_<study>`, naming the folder when it is not on the search path.

    The searched folders are the `experiments://` entries of conf/config.yaml's `hydra.searchpath`
    (relative to the project root, like the config source that reads them).
    """

    entries = [str(e) for e in OmegaConf.load(conf_dir() / "config.yaml").hydra.searchpath
               if str(e).startswith("experiments://")]
    searched = {(project_root() / e.removeprefix("experiments://")).resolve() for e in entries}
    command = f"python run.py +experiment={best_file.stem}"
    if best_file.parent.resolve() in searched:
        return command
    paths = ",".join([*entries, f"experiments://{best_file.parent.resolve()}"])
    return f"{command} 'hydra.searchpath=[{paths}]'"


def _is_sweep_machinery(override: str) -> bool:
    key = override.lstrip("+~").split("=", 1)[0]
    return key == "sweep" or key.startswith(("sweep.", "hydra.", "hydra/"))
