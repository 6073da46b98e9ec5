"""Helpers for the sweeper tests: run real Hydra sweeps in subprocesses and read the real study."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from melanoma_exp.paths import project_root

TOY_APP = Path(__file__).with_name("toy_app.py")
# Fast heartbeats so a killed worker's trial goes stale within seconds in the tests.
FAST_HEARTBEAT = ["sweep.heartbeat.interval=1", "sweep.heartbeat.grace_period=3"]


def sweep_env() -> dict[str, str]:
    env = dict(os.environ)
    env.update(MLFLOW_DISABLE_TELEMETRY="true", TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    env.pop("MLFLOW_TRACKING_URI", None)
    return env


def toy_command(out: Path, *overrides: str, storage: str | None = None) -> list[str]:
    """The command line of a toy sweep writing everything under `out`."""
    base = [
        "+sweep=optuna",
        f"paths.output_dir={out}",
        f"sweep.best_experiment_dir={out}/experiments",
        "tracking=none",
        "sweep.study_name=toy",
    ]
    if storage:
        base.append(f"sweep.storage='{storage}'")
    return [sys.executable, str(TOY_APP), *base, *FAST_HEARTBEAT, *overrides]


def run_toy(out: Path, *overrides: str, storage: str | None = None, check: bool = True,
            timeout: float = 120) -> subprocess.CompletedProcess:
    """Run one toy sweep to the end; fails the test with its output when it exits non-zero."""
    proc = subprocess.run(
        toy_command(out, *overrides, storage=storage),
        cwd=project_root(), env=sweep_env(), capture_output=True, text=True, timeout=timeout,
    )
    if check and proc.returncode != 0:
        pytest.fail(f"sweep exited {proc.returncode}\n{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}")
    return proc


def load(out: Path, name: str = "toy", storage: str | None = None):
    """The study as Optuna sees it after the sweep."""
    import optuna

    url = storage or f"sqlite:///{out}/optuna/optuna.db"
    return optuna.load_study(study_name=name, storage=url)


def states(study) -> dict[str, int]:
    """Trial state name -> count."""
    counts: dict[str, int] = {}
    for trial in study.get_trials(deepcopy=False):
        counts[trial.state.name] = counts.get(trial.state.name, 0) + 1
    return counts
