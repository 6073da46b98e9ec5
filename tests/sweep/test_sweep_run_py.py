"""The product's own commands: `python run.py ... +sweep=optuna` with the real trainer."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from melanoma_exp.paths import project_root

from .helpers import load, states, sweep_env

WITHOUT_TENSORFLOW = str(Path(__file__).parents[1] / "without_tensorflow.py")


def run_py(*args: str, timeout: float = 300, launcher: tuple = ()) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, *launcher, "run.py", *args], cwd=project_root(), env=sweep_env(),
                          capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc


def test_headline_command_composes_as_a_sweep_without_multirun_flag():
    hydra_cfg = run_py("model=densenet201", "+sweep=optuna", "--cfg", "hydra").stdout
    assert "mode: MULTIRUN" in hydra_cfg
    assert "hydra_plugins.melanoma_optuna_sweeper.sweeper.MelanomaOptunaSweeper" in hydra_cfg
    job_cfg = run_py("model=densenet201", "+sweep=optuna", "--cfg", "job", "--resolve").stdout
    assert "name: densenet201" in job_cfg and "study_name: densenet201-synthetic" in job_cfg


def test_headline_command_starts_a_sweep(tmp_path):
    # A tiny override set: one trial whose config the trainer rejects at once, so the sweep
    # starts, records the failure and ends, without training a DenseNet201 on 2 CPU cores.
    run_py("model=densenet201", "data=synthetic", "+sweep=optuna", f"paths.output_dir={tmp_path}", "tracking=none",
           f"sweep.best_experiment_dir={tmp_path}/experiments", "sweep.n_trials=1",
           "sweep.max_failures=null", "head.units=-1")
    study = load(tmp_path, "densenet201-synthetic")
    trial = study.trials[0]
    assert trial.state.name == "FAIL" and "head.units" in trial.user_attrs["error"]
    assert list((tmp_path / "sweeps" / "densenet201-synthetic").glob("*/trial_0/.hydra/config.yaml"))


@pytest.mark.slow
def test_smoke_sweep_through_run_py_prunes_fails_and_tracks(tmp_path, synthetic_raw):
    """A 3-trial smoke of the thesis's third study (`+sweep=optuna_thesis`: threshold pruner) on
    synthetic data with the smoke recipe's tiny model, on the JAX backend without TensorFlow (the
    TensorFlow backend's sweeps run in the journey and tests/sweep/test_sweep_workers.py)."""
    from mlflow.tracking import MlflowClient

    # head.units=-1 is rejected by the trainer (FAIL); a threshold above any accuracy prunes
    # every trial that trains at its first epoch. Seed 1 draws both kinds within three trials.
    run_py("+experiment=smoke", "+sweep=optuna_thesis", f"paths.output_dir={tmp_path}",
           f"data.raw_dir={synthetic_raw}", f"data.prepared_root={tmp_path}/prepared",
           f"sweep.best_experiment_dir={tmp_path}/experiments", "sweep.n_trials=3",
           "sweep.sampler.seed=1", "data.batch_size=16", "head.units=choice(16,-1)",
           "sweep.pruner.lower=1.01", "sweep.pruner.warmup_epochs=0", "trainer.backend=jax",
           launcher=(WITHOUT_TENSORFLOW,))
    study = load(tmp_path, "efficientnetv2b0-synthetic-thesis3")
    counts = states(study)
    assert sum(counts.values()) == 3 and counts.get("PRUNED", 0) >= 1 and counts.get("FAIL", 0) >= 1
    for trial in study.trials:
        if trial.state.name == "PRUNED":
            assert list(trial.intermediate_values) == [0]  # reported by the trainer, then stopped
        else:
            assert trial.params["head.units"] == -1 and "head.units" in trial.user_attrs["error"]

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow/mlflow.db")
    exp = client.get_experiment_by_name("melanoma-smoke")
    runs = client.search_runs([exp.experiment_id])
    parents = [r for r in runs if r.data.tags.get("optuna.role") == "sweep"]
    assert len(parents) == 1
    children = {int(r.data.tags["optuna.trial_number"]): r for r in runs
                if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id}
    assert sorted(children) == [0, 1, 2]
    for trial in study.trials:
        assert children[trial.number].data.tags["optuna.state"] == trial.state.name
    pruned = next(t.number for t in study.trials if t.state.name == "PRUNED")
    assert "train/loss" in children[pruned].data.metrics  # the trainer's own run, not a stub
