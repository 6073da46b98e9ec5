"""One real training run shared by the trainer's end-to-end tests (the first `fit` costs seconds).

`smoke_run` starts `python run.py +experiment=smoke` in a subprocess, kills it (SIGKILL) once its first
epoch is checkpointed, then resumes the same run folder in-process with `train(compose(...))`. So the
same run proves resume *and* serves every assertion about metrics, artifacts and the logged model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from melanoma_exp.paths import project_root

EPOCHS = 3  # smoke: phase 0 = epoch 0 (head only), phase 1 = epochs 1-2 (top half of the backbone)


def smoke_overrides(raw: Path, prepared: Path, root: Path, *extra: str) -> list[str]:
    """Overrides that point the smoke recipe at the shared session data and a tmp store/run folder."""
    return [
        "+experiment=smoke",
        f"data.raw_dir={raw}",
        f"data.prepared_root={prepared.parent}",  # same settings as prepared_small: prepare is a no-op
        f"paths.output_dir={root / 'outputs'}",
        f"trainer.run_dir={root / 'run'}",
        f"trainer.epochs={EPOCHS}",
        f"tracking.tracking_uri=sqlite:///{root / 'mlflow.db'}",
        f"tracking.artifact_location={root / 'artifacts'}",
        "eval.enabled=false",  # the clinical evaluation has its own end-to-end test (tests/clinical)
        *extra,
    ]


WITHOUT_TENSORFLOW = (str(Path(__file__).parents[1] / "without_tensorflow.py"),)  # prefix: run.py without TF


def _run_py_env() -> dict:
    return {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "KERAS_BACKEND")}


def _kill_after_first_epoch(overrides: list[str], run_dir: Path, log: Path, launcher: tuple = ()) -> dict:
    """Start `python [launcher] run.py overrides`, SIGKILL it once epoch 1 is checkpointed."""
    state_file = run_dir / "checkpoints" / "state.json"
    with log.open("w") as out:
        proc = subprocess.Popen([sys.executable, *launcher, "run.py", *overrides], cwd=project_root(),
                                env=_run_py_env(), stdout=out, stderr=subprocess.STDOUT)
        deadline = time.time() + 400
        try:
            while time.time() < deadline and proc.poll() is None:
                if state_file.is_file() and json.loads(state_file.read_text())["epoch"] >= 1:
                    proc.kill()
                    break
                time.sleep(0.05)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
    assert state_file.is_file(), f"run.py never checkpointed an epoch:\n{log.read_text()[-3000:]}"
    return json.loads(state_file.read_text())


@pytest.fixture(scope="session")
def smoke_run(synthetic_raw, prepared_small, tmp_path_factory):
    """The interrupted-then-resumed smoke run: its objective, folders, MLflow store and states."""
    from melanoma_exp.commands.train import train
    from melanoma_exp.config import compose

    root = tmp_path_factory.mktemp("smoke_run")
    overrides = smoke_overrides(synthetic_raw, prepared_small, root)
    interrupted = _kill_after_first_epoch(overrides, root / "run", root / "killed_run.log")
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("MLFLOW_TRACKING_URI", raising=False)
        objective = train(compose(overrides))
    state = json.loads((root / "run" / "checkpoints" / "state.json").read_text())
    return SimpleNamespace(
        objective=objective, root=root, run_dir=root / "run", interrupted=interrupted, state=state,
        tracking_uri=f"sqlite:///{root / 'mlflow.db'}", prepared=prepared_small, overrides=overrides, epochs=EPOCHS,
    )


@pytest.fixture(scope="session")
def jax_smoke_run(synthetic_raw, prepared_small, tmp_path_factory):
    """The smoke recipe on Keras's JAX backend, on a machine without TensorFlow: run.py killed after
    epoch 1 (SIGKILL), then run.py again on the same run folder, which resumes and finishes."""
    root = tmp_path_factory.mktemp("jax_smoke_run")
    overrides = smoke_overrides(synthetic_raw, prepared_small, root, "trainer.backend=jax")
    interrupted = _kill_after_first_epoch(overrides, root / "run", root / "killed_run.log", WITHOUT_TENSORFLOW)
    resumed = subprocess.run([sys.executable, *WITHOUT_TENSORFLOW, "run.py", *overrides], cwd=project_root(),
                             env=_run_py_env(), capture_output=True, text=True, timeout=600)
    (root / "resumed_run.log").write_text(resumed.stdout + resumed.stderr)
    assert resumed.returncode == 0, f"the resumed JAX run failed:\n{(resumed.stdout + resumed.stderr)[-4000:]}"
    state = json.loads((root / "run" / "checkpoints" / "state.json").read_text())
    return SimpleNamespace(
        root=root, run_dir=root / "run", interrupted=interrupted, state=state, log=resumed.stdout + resumed.stderr,
        tracking_uri=f"sqlite:///{root / 'mlflow.db'}", prepared=prepared_small, epochs=EPOCHS,
    )

