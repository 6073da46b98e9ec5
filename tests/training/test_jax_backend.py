"""`trainer.backend=jax` end to end, on a machine without TensorFlow (imports of it fail): run.py
trains the smoke recipe on JAX, is killed after epoch 1, resumes, evaluates, draws Grad-CAM and logs
the model; the model it logged predicts the same on TensorFlow (this test process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from melanoma_exp.paths import project_root

from .helpers import smoke_mlflow_run

pytestmark = pytest.mark.slow
WITHOUT_TENSORFLOW = Path(__file__).parents[1] / "without_tensorflow.py"


@pytest.fixture(scope="module")
def jax_mlflow_run(jax_smoke_run):
    return smoke_mlflow_run(jax_smoke_run.tracking_uri)


def test_jax_run_resumes_after_sigkill_and_finishes(jax_smoke_run, jax_mlflow_run):
    assert jax_smoke_run.interrupted["epoch"] == 1 and not jax_smoke_run.interrupted["finished"]
    state = jax_smoke_run.state
    assert state["finished"] and state["epoch"] == jax_smoke_run.epochs
    assert [row["epoch"] for row in state["history"]] == list(range(jax_smoke_run.epochs))
    assert "resuming" in jax_smoke_run.log and "at epoch 1" in jax_smoke_run.log
    client, run = jax_mlflow_run
    assert run.info.status == "FINISHED"
    assert run.data.tags["runtime.backend"] == "jax" and run.data.tags["resumed_at_epoch"] == "1"
    losses = sorted(m.step for m in client.get_metric_history(run.info.run_id, "train/loss"))
    assert losses == list(range(jax_smoke_run.epochs))  # one point per epoch, none lost to the kill


def test_jax_run_evaluates_and_explains(jax_smoke_run):
    out = jax_smoke_run.run_dir / "evaluation"
    report = json.loads((out / "report.json").read_text())
    assert report["test"]["n"] == len(pd.read_csv(out / "predictions.csv")) > 0
    assert 0.0 <= report["test"]["auc"] <= 1.0 and "at_0.5" in report
    assert (out / "gradcam" / "gradcam_grid.png").read_bytes()[:4] == b"\x89PNG"
    assert report["explain"]["gradcam_images"]


def test_model_trained_on_jax_predicts_the_same_on_tensorflow(jax_smoke_run, jax_mlflow_run):
    import keras
    import mlflow

    from melanoma_exp.data.pipeline import make_dataset

    assert keras.backend.backend() == "tensorflow"
    _, run = jax_mlflow_run
    mlflow.set_tracking_uri(jax_smoke_run.tracking_uri)
    (logged,) = mlflow.search_logged_models(experiment_ids=[run.info.experiment_id], output_format="list")
    model = mlflow.keras.load_model(logged.model_uri)
    requirements = (jax_smoke_run.root / "artifacts").rglob("requirements.txt")
    assert any("jax==" in path.read_text() for path in requirements)
    csv = pd.read_csv(jax_smoke_run.run_dir / "evaluation" / "predictions.csv")
    probs = model.predict(make_dataset(jax_smoke_run.prepared, "test", batch_size=16, training=False), verbose=0)
    np.testing.assert_allclose(csv["malignant"], probs.ravel(), atol=1e-4)


def test_litert_export_without_tensorflow_says_what_it_needs():
    code = ("import keras; from melanoma_exp.export.litert import convert_to_litert\n"
            "convert_to_litert(keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)]), quantize=False)")
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    done = subprocess.run([sys.executable, str(WITHOUT_TENSORFLOW), "-c", code], cwd=project_root(), env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode != 0
    assert "exporting to LiteRT needs TensorFlow" in done.stderr and "melanoma export" in done.stderr

