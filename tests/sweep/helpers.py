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


def toy_command(out: Path, *overrides: str, storage: str | None = None,
                study: str = "toy") -> list[str]:
    """The command line of a toy sweep writing everything under `out`."""
    base = [
        "+sweep=optuna",
        f"paths.output_dir={out}",
        f"sweep.best_experiment_dir={out}/experiments",
        "tracking=none",
        f"sweep.study_name={study}",
    ]
    if storage:
        base.append(f"sweep.storage='{storage}'")
    return [sys.executable, str(TOY_APP), *base, *FAST_HEARTBEAT, *overrides]


def run_toy(out: Path, *overrides: str, storage: str | None = None, study: str = "toy",
            check: bool = True, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run one toy sweep to the end; fails the test with its output when it exits non-zero."""
    proc = subprocess.run(
        toy_command(out, *overrides, storage=storage, study=study),
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


def start_toy(out: Path, *overrides: str, storage: str | None = None, study: str = "toy",
              log_name: str = "worker") -> subprocess.Popen:
    """Start a toy sweep worker in the background; its output goes to `out/<log_name>.log`."""
    out.mkdir(parents=True, exist_ok=True)
    log = open(out / f"{log_name}.log", "w")
    return subprocess.Popen(
        toy_command(out, *overrides, storage=storage, study=study),
        cwd=project_root(), env=sweep_env(), stdout=log, stderr=subprocess.STDOUT, text=True,
    )


def wait_for_running(out: Path, number: int, storage: str | None = None, study: str = "toy",
                     timeout: float = 60) -> None:
    """Block until trial `number` of the study is RUNNING."""
    import time

    import optuna

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            trials = load(out, study, storage).get_trials(deepcopy=False)
        except (KeyError, Exception):  # the study or the DB file does not exist yet
            trials = []
        if any(t.number == number and t.state == optuna.trial.TrialState.RUNNING for t in trials):
            return
        time.sleep(0.3)
    pytest.fail(f"trial {number} never started running")


def wait_for_work(out: Path, number: int, timeout: float = 60) -> None:
    """Block until trial `number` of the toy study has started its work (its `sleeping` marker, written
    after every parameter is sampled): a kill or Ctrl-C from here on interrupts the trial's work, not
    its setup (config, storage look-ups, parameter sampling)."""
    import time

    wait_for_running(out, number)
    deadline = time.monotonic() + timeout
    pattern = f"sweeps/toy/*/trial_{number}/sleeping"
    while not list(out.glob(pattern)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert list(out.glob(pattern)), f"trial {number} never started its work"


def finished_by(log_text: str) -> set[int]:
    """Trial numbers a worker reported as finished in its output."""
    import re

    return {int(n) for n in re.findall(r"\[sweep\] trial (\d+) (?:COMPLETE|PRUNED|FAIL)", log_text)}


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """A PostgreSQL URL: $MELANOMA_TEST_POSTGRES_URL (exported by .ci/run), else start the local
    Debian cluster with .ci/postgres.sh. In CI a missing URL is an error, never a skip."""
    url = os.environ.get("MELANOMA_TEST_POSTGRES_URL")
    if url:
        return url
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail("MELANOMA_TEST_POSTGRES_URL is not set in CI: .ci/run must source .ci/postgres.sh")
    proc = subprocess.run(
        ["bash", "-c", "source .ci/postgres.sh >&2 && echo \"$MELANOMA_TEST_POSTGRES_URL\""],
        cwd=project_root(), capture_output=True, text=True, timeout=120,
    )
    url = proc.stdout.strip()
    if proc.returncode != 0 or not url:
        pytest.fail(f"could not start PostgreSQL with .ci/postgres.sh:\n{proc.stderr}")
    return url
