"""Issue 14 item 5: the headline sweep never quietly sweeps synthetic data, and every run and sweep
names its data on its first line (source, image count, prepared folder).

Real `python run.py` subprocesses; everything they write goes under tmp_path.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from melanoma_exp.paths import project_root

HEADLINE = ["model=densenet201", "+sweep=optuna", "model.weights=imagenet", "data.image_size=224"]


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(MLFLOW_DISABLE_TELEMETRY="true", TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def run_py(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "run.py", *args], cwd=project_root(), env=_env(),
                          capture_output=True, text=True, timeout=timeout)


def _sweep_args(tmp_path: Path) -> list[str]:
    return [f"paths.output_dir={tmp_path}/outputs", f"paths.data_dir={tmp_path}/data", "tracking=none",
            f"sweep.storage=sqlite:///{tmp_path}/optuna.db",
            f"sweep.best_experiment_dir={tmp_path}/experiments"]


def _trials(storage: str) -> int:
    import optuna

    summaries = optuna.study.get_all_study_summaries(storage)
    return sum(s.n_trials for s in summaries)


def test_headline_sweep_on_default_synthetic_data_is_refused_before_any_trial(tmp_path):
    proc = run_py(*HEADLINE, *_sweep_args(tmp_path), timeout=120)
    assert proc.returncode != 0, proc.stdout[-2000:]
    message = proc.stderr
    assert "Refusing to sweep synthetic data" in message, message[-3000:]
    assert "data=isic" in message and "data=synthetic" in message and "make data" in message
    assert "Traceback" not in message  # a message for a person
    db = tmp_path / "optuna.db"
    assert not db.exists() or _trials(f"sqlite:///{db}") == 0  # no trial, no study
    assert not (tmp_path / "outputs" / "sweeps").exists()


def test_explicit_data_synthetic_sweeps_and_names_its_data_first(tmp_path):
    # head.units=-1 is rejected by the trainer at once: the sweep starts, one trial FAILs, it ends.
    proc = run_py(*HEADLINE, "data=synthetic", *_sweep_args(tmp_path), "sweep.n_trials=1",
                  "sweep.max_failures=null", "head.units=-1")
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    first = proc.stdout.splitlines()[0]
    raw = tmp_path / "data" / "synthetic" / "raw"
    assert first.startswith("[data] source synthetic, 224 px"), first
    assert f"not prepared yet: {raw}" in first and str(tmp_path / "data" / "prepared") in first
    assert _trials(f"sqlite:///{tmp_path}/optuna.db") == 1


def test_recipes_with_synthetic_data_are_not_refused():
    from melanoma_exp.training.validate import data_chosen_explicitly

    assert data_chosen_explicitly(["+experiment=smoke", "model.weights=imagenet"])
    assert data_chosen_explicitly(["data=synthetic"]) and data_chosen_explicitly(["++data=isic"])
    assert not data_chosen_explicitly(["model=densenet201", "data.image_size=224", "+sweep=optuna"])


@pytest.mark.slow
def test_smoke_run_names_its_prepared_data_on_the_first_line(tmp_path, prepared_small, synthetic_raw):
    from melanoma_exp.data.prepare import read_manifest

    total = read_manifest(prepared_small)["total"]
    proc = run_py("+experiment=smoke", f"data.raw_dir={synthetic_raw}",
                  f"data.prepared_root={prepared_small.parent}", f"paths.output_dir={tmp_path}/outputs",
                  f"trainer.run_dir={tmp_path}/run", "trainer.epochs=1", "tracking=none",
                  "eval.enabled=false", "trainer.gradcam.enabled=false", timeout=600)
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    first = proc.stdout.splitlines()[0]
    assert first == f"[data] source synthetic, 32 px, {total} images, prepared folder {prepared_small}"
