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
    """A 3-trial smoke of the thesis's third study (`+sweep=thesis_run3`: threshold pruner) on
    synthetic data with the smoke recipe's tiny model (chosen on the command line: the study names
    the real archive and its model), on the JAX backend without TensorFlow (the TensorFlow backend's
    sweeps run in the journey, test_thesis_recipe_as_published_in_its_study and
    tests/sweep/test_sweep_workers.py)."""
    from mlflow.tracking import MlflowClient

    # head.units=-1 is rejected by the trainer (FAIL); a threshold above any accuracy prunes
    # every trial that trains at its first epoch. Seed 1 draws both kinds within three trials.
    run_py("+experiment=smoke", "+sweep=thesis_run3", "data=synthetic", "model=efficientnetv2b0",
           f"paths.output_dir={tmp_path}",
           f"data.raw_dir={synthetic_raw}", f"data.prepared_root={tmp_path}/prepared",
           f"sweep.best_experiment_dir={tmp_path}/experiments", "sweep.n_trials=3",
           "sweep.sampler.seed=1", "data.batch_size=16", "head.units=choice(16,-1)",
           "sweep.pruner.lower=1.01", "sweep.pruner.warmup_epochs=0", "trainer.backend=jax",
           launcher=(WITHOUT_TENSORFLOW,))
    study = load(tmp_path, "efficientnetv2b0-synthetic-thesis-run3")
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


@pytest.mark.slow
def test_thesis_recipe_as_published_in_its_study(tmp_path, synthetic_raw):
    """Run 1's study (`+sweep=thesis_run1`: no pruner) around run 1's recipe as published
    (`+experiment=thesis_run1 +thesis=as_published`), one trial of one epoch on synthetic data at 32 px
    with a tiny model on the TensorFlow backend (Grad-CAM off: 25 s of CPU, not 60): the study searches
    run 1's parameters, the trial splits per image without augmentation, and its report's verdicts are
    at 0.5 with no operating point."""
    import json

    from omegaconf import OmegaConf
    from thesis_table import AS_PUBLISHED, STUDIES

    run_py("+experiment=thesis_run1", "+thesis=as_published", "+sweep=thesis_run1", "data=synthetic",
           "model=efficientnetv2b0", "model.weights=null", "data.image_size=32", "data.batch_size=16",
           "data.shard_size=64", f"data.raw_dir={synthetic_raw}", f"data.prepared_root={tmp_path}/prepared",
           "head.units=16", "trainer.epochs=1", "trainer.verbose=0", "trainer.gradcam.enabled=false",
           "tracking=none", f"paths.output_dir={tmp_path}", f"sweep.best_experiment_dir={tmp_path}/experiments",
           "sweep.n_trials=1")
    study = load(tmp_path, "efficientnetv2b0-synthetic-thesis-run1")
    assert states(study) == {"COMPLETE": 1}
    assert set(study.trials[0].params) == set(STUDIES["thesis_run1"].searched) - {"data.batch_size"}
    trial_dir = next((tmp_path / "sweeps" / study.study_name).glob("*/trial_0"))
    job = OmegaConf.load(trial_dir / ".hydra" / "config.yaml")
    assert {key: OmegaConf.select(job, key) for key in AS_PUBLISHED if key != "data.image_size"} == {
        key: value for key, value in AS_PUBLISHED.items() if key != "data.image_size"}
    report = json.loads((trial_dir / "evaluation" / "report.json").read_text())
    assert report["threshold"] == 0.5 and "clinical" not in report
    assert report["test"] == report["at_0.5"]
    assert report["data"]["split"]["group_by"] == "isic_id"
