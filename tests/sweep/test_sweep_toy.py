"""The sweeper end to end on a toy task (real Hydra multirun, real SQLite study, real MLflow store).

The toy task (toy_app.py) plays the trainer's part of the trial contract without TensorFlow, so
these tests pin the sweeper's behaviour quickly; test_sweep_run_py.py repeats the key ones through
the real `run.py`.
"""

from __future__ import annotations

import math

import pytest
from omegaconf import OmegaConf

from .helpers import load, run_toy, states


def test_sweep_reaches_total_then_rerun_finishes_the_remainder(tmp_path):
    run_toy(tmp_path, "sweep.n_trials=3", "sweep.pruner.name=none")
    study = load(tmp_path)
    assert states(study) == {"COMPLETE": 3}
    first_dirs = sorted(p.name for p in (tmp_path / "sweeps" / "toy").glob("*/trial_*"))
    assert first_dirs == ["trial_0", "trial_1", "trial_2"]

    run_toy(tmp_path, "sweep.n_trials=5", "sweep.pruner.name=none")  # n_trials is the total
    study = load(tmp_path)
    assert states(study) == {"COMPLETE": 5}
    dirs = sorted(p.name for p in (tmp_path / "sweeps" / "toy").glob("*/trial_*"))
    assert dirs == [f"trial_{i}" for i in range(5)]  # no re-run overwrote an earlier trial's folder

    run_toy(tmp_path, "sweep.n_trials=5")  # already there: nothing to do
    assert len(load(tmp_path).trials) == 5


def test_trials_get_distinct_parameters_and_conditions_hold(tmp_path):
    run_toy(tmp_path, "sweep.n_trials=6", "sweep.pruner.name=none")
    trials = load(tmp_path).trials
    assert len({t.params["head.dropout1"] for t in trials}) == 6
    for trial in trials:
        assert ("head.units2" in trial.params) == trial.params["head.second_dense"]
        assert len(trial.intermediate_values) == 4  # one report per toy epoch


def test_pruner_prunes_and_sweep_finishes(tmp_path):
    # Threshold pruning as in the thesis, scaled to the toy: below 0.55 at epoch index 1 stops.
    run_toy(tmp_path, "sweep.n_trials=8", "sweep.pruner.name=threshold",
            "sweep.pruner.lower=0.55", "sweep.pruner.warmup_epochs=1")
    study = load(tmp_path)
    counts = states(study)
    assert counts.get("PRUNED", 0) >= 1 and counts.get("COMPLETE", 0) >= 1
    assert counts.get("PRUNED", 0) + counts.get("COMPLETE", 0) == 8
    for trial in study.trials:
        if trial.state.name == "PRUNED":
            assert max(trial.intermediate_values) == 1  # stopped at the first decision epoch
            assert trial.intermediate_values[1] < 0.55


def test_failing_and_nan_trials_fail_and_the_sweep_continues(tmp_path):
    run_toy(tmp_path, "sweep.n_trials=5", "sweep.pruner.name=none",
            "+toy.fail_trials=[1]", "+toy.nan_trials=[3]")
    study = load(tmp_path)
    assert states(study) == {"COMPLETE": 3, "FAIL": 2}
    by_number = {t.number: t for t in study.trials}
    assert "RuntimeError: injected failure in trial 1" in by_number[1].user_attrs["error"]
    assert by_number[3].user_attrs["error"] == "objective is NaN"
    assert all(not math.isnan(t.value) for t in study.trials if t.state.name == "COMPLETE")


def test_max_failures_stops_the_sweep_with_a_clear_error_and_a_consistent_study(tmp_path):
    proc = run_toy(tmp_path, "sweep.n_trials=6", "sweep.max_failures=1",
                   "+toy.fail_trials=[0,1,2,3,4,5]", check=False)
    assert proc.returncode != 0
    assert "more than sweep.max_failures=1" in proc.stderr
    assert states(load(tmp_path)) == {"FAIL": 2}  # one tolerated, the second stops; none RUNNING


@pytest.mark.slow
def test_mlflow_parent_children_plots_and_best_experiment_file(tmp_path):
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path}/mlflow/mlflow.db"
    run_toy(tmp_path, "tracking=mlflow", "sweep.n_trials=4", "sweep.pruner.name=none",
            "+toy.fail_trials=[2]")
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("melanoma-train")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if r.data.tags.get("optuna.role") == "sweep"]
    assert len(parents) == 1
    parent = parents[0]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(int(c.data.tags["optuna.trial_number"]) for c in children) == [0, 1, 2, 3]
    child_states = {int(c.data.tags["optuna.trial_number"]): c.data.tags["optuna.state"] for c in children}
    assert child_states[2] == "FAIL" and child_states[0] == "COMPLETE"
    assert "injected failure" in next(
        c for c in children if c.data.tags["optuna.trial_number"] == "2").data.tags["optuna.error"]

    study = load(tmp_path)
    assert parent.data.metrics["best_value"] == pytest.approx(study.best_value)
    assert parent.info.status == "FINISHED"
    assert parent.data.params["best.head.dropout1"] == str(study.best_params["head.dropout1"])
    best_child = next(c for c in children if c.info.run_id == parent.data.tags["optuna.best_run_id"])
    assert best_child.data.tags["optuna.trial_number"] == str(study.best_trial.number)
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id, "plots")}
    assert {"plots/optimization_history.png", "plots/parallel_coordinate.png",
            "plots/intermediate_values.png", "plots/param_importances.png"} <= artifacts
    local = mlflow.artifacts.download_artifacts(
        run_id=parent.info.run_id, artifact_path="plots/optimization_history.png", tracking_uri=uri)
    assert open(local, "rb").read(8) == b"\x89PNG\r\n\x1a\n"

    best_file = tmp_path / "experiments" / "best_toy.yaml"
    text = best_file.read_text()
    assert text.startswith("# @package _global_") and "python run.py +experiment=best_toy" in text
    from melanoma_exp.config import compose

    cfg = compose(["+experiment=best_toy", f"hydra.searchpath=[experiments://{tmp_path}/experiments]"])
    best = study.best_params
    assert cfg.head.dropout1 == pytest.approx(best["head.dropout1"])
    assert cfg.optimizer.learning_rate == pytest.approx(best["optimizer.learning_rate"])
    assert cfg.optimizer._target_.lower().endswith(best["optimizer"])
    assert OmegaConf.select(cfg, "sweep") is None  # a plain training run, not another sweep
