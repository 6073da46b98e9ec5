"""docs/scaling.md's shared MLflow server, on one machine: a real `mlflow server` with proxied
artifacts, a training run pointed at it by `MLFLOW_TRACKING_URI` and
`tracking.artifact_location=mlflow-artifacts:/...`, and `melanoma register` through it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from melanoma_exp.paths import project_root
from melanoma_exp.tracking.tracker import experiment_id

ROOT = project_root()
sys.path.insert(0, str(ROOT / "tests" / "serving"))
from serving_helpers import free_port, wait_http  # noqa: E402


def test_an_artifact_uri_is_kept_and_a_path_becomes_an_absolute_file_uri(tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path}/mlflow.db")
    for n, uri in enumerate(["mlflow-artifacts:/melanoma", "s3://bucket/mlflow", "file:///srv/artifacts"]):
        assert client.get_experiment(experiment_id(client, f"uri-{n}", uri)).artifact_location == uri
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlflow.db"]  # no folder named after a URI
    created = client.get_experiment(experiment_id(client, "path", "relative/artifacts"))
    assert created.artifact_location == (tmp_path / "relative" / "artifacts").as_uri()
    assert (tmp_path / "relative" / "artifacts").is_dir()


@pytest.fixture
def mlflow_server(tmp_path):
    """`mlflow server` as docs/scaling.md starts it (SQLite instead of PostgreSQL), on 127.0.0.1."""
    port, artifacts = free_port(), tmp_path / "server-artifacts"
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{tmp_path}/server.db", "--artifacts-destination", str(artifacts),
         "--workers", "1"],
        cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", timeout=120, proc=proc)
        yield f"http://127.0.0.1:{port}", artifacts
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


@pytest.mark.slow
def test_a_run_tracked_on_a_server_keeps_its_artifacts_there(mlflow_server, tmp_path):
    from mlflow.tracking import MlflowClient

    uri, server_artifacts = mlflow_server
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "TF_CPP_MIN_LOG_LEVEL": "2",
           "MLFLOW_DISABLE_TELEMETRY": "true"}
    out = tmp_path / "worker-outputs"
    train = subprocess.run(
        [sys.executable, "run.py", "+experiment=smoke", "tracking.artifact_location=mlflow-artifacts:/melanoma",
         f"paths.output_dir={out}", f"paths.data_dir={tmp_path / 'data'}", "eval.enabled=false",
         "trainer.gradcam.enabled=false"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert train.returncode == 0, train.stderr[-4000:]
    run_id = re.search(r"/runs/([0-9a-f]{32})", train.stdout + train.stderr).group(1)

    assert (server_artifacts / "melanoma" / run_id / "artifacts" / "report.json").is_file()
    assert not (out / "mlflow").exists(), "the worker kept a local MLflow store"

    register = subprocess.run([str(Path(sys.executable).with_name("melanoma")), "register", run_id,
                               "--auto-promote"], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=300)
    assert register.returncode == 0, register.stderr[-4000:]
    champion = MlflowClient(tracking_uri=uri).get_model_version_by_alias("melanoma-classifier", "champion")
    assert champion.run_id == run_id
