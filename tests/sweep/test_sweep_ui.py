"""`melanoma ui`: both dashboards answer on 127.0.0.1 for our stores and Ctrl-C stops both."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import httpx
import optuna
import pytest

from melanoma_exp.paths import project_root

from .helpers import sweep_env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_json(url: str, timeout: float = 90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=5)
            if response.status_code == 200:
                return response.json()
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"{url} did not answer within {timeout} s")


def gone(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.mark.slow
def test_ui_serves_mlflow_and_optuna_dashboard_and_ctrl_c_stops_both(tmp_path):
    storage = f"sqlite:///{tmp_path}/optuna.db"
    study = optuna.create_study(study_name="ui-study", storage=storage, direction="maximize")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    mlflow_port, optuna_port = free_port(), free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "melanoma_exp.cli", "ui", "--mlflow-port", str(mlflow_port),
         "--optuna-port", str(optuna_port), "--storage", storage,
         "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db", "--artifacts", str(tmp_path / "art")],
        cwd=project_root(), env=sweep_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        lines = [proc.stdout.readline() for _ in range(3)]
        text = "".join(lines)
        assert f"http://127.0.0.1:{mlflow_port}" in text and f"http://127.0.0.1:{optuna_port}" in text
        pids = [int(p) for p in re.findall(r"pid (\d+)", text)]
        assert len(pids) == 2

        studies = wait_json(f"http://127.0.0.1:{optuna_port}/api/studies")
        assert [s["study_name"] for s in studies["study_summaries"]] == ["ui-study"]
        experiments = wait_json(
            f"http://127.0.0.1:{mlflow_port}/api/2.0/mlflow/experiments/search?max_results=10")
        assert "Default" in [e["name"] for e in experiments["experiments"]]

        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
        deadline = time.monotonic() + 20
        while not all(gone(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert all(gone(pid) for pid in pids), "a dashboard survived Ctrl-C"
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{optuna_port}/api/studies", timeout=2)
    finally:
        if proc.poll() is None:
            proc.kill()
