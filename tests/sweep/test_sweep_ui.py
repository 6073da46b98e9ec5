"""`melanoma ui`: both dashboards answer on 127.0.0.1 for our stores, also before the first sweep, a
server that dies is reported with its own error, and Ctrl-C / SIGTERM stop every process it started."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import optuna
import pytest

from melanoma_exp.commands.ui import _descendants
from melanoma_exp.paths import project_root

from .helpers import sweep_env

pytestmark = pytest.mark.timeout(600)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Output:
    """The launcher's output, read by a thread, so every wait has a deadline."""

    def __init__(self, proc: subprocess.Popen):
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=lambda: [self.lines.put(line) for line in proc.stdout], daemon=True).start()

    def until(self, pattern: str, timeout: float = 90) -> str:
        """Read until a line matches ``pattern``; fail with everything read if it never comes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=max(0.05, deadline - time.monotonic()))
            except queue.Empty:
                break
            self.seen.append(line)
            if re.search(pattern, line):
                return line
        pytest.fail(f"no line matching {pattern!r} within {timeout} s:\n{''.join(self.seen)[-3000:]}")


def wait_ok(url: str, timeout: float = 90) -> httpx.Response:
    """The first 200 answer of ``url`` (following redirects); fail if none comes within ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            response = httpx.get(url, timeout=5, follow_redirects=True)
            if response.status_code == 200:
                return response
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    pytest.fail(f"{url} did not answer 200 within {timeout} s")


def wait_json(url: str, timeout: float = 90):
    return wait_ok(url, timeout).json()


def alive(pids: list[int]) -> list[int]:
    found = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                    found.append(pid)
        except OSError:
            pass
    return found


def start_ui(tmp_path, storage: str, mlflow_port: int, optuna_port: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "melanoma_exp.commands.main", "ui", "--mlflow-port", str(mlflow_port),
         "--optuna-port", str(optuna_port), "--storage", storage,
         "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db", "--artifacts", str(tmp_path / "art")],
        cwd=project_root(), env=sweep_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def cleanup(proc: subprocess.Popen) -> None:
    """After a failed check: stop the launcher the polite way, then anything it left behind."""
    family = _descendants(proc.pid)
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for pid in alive(family):
        os.kill(pid, signal.SIGKILL)


def stop_and_check_nothing_survives(proc: subprocess.Popen, sig: int, output: Output, optuna_port: int):
    family = _descendants(proc.pid)
    assert len(family) >= 3, "MLflow (with its workers) and optuna-dashboard should be running"
    proc.send_signal(sig)
    assert proc.wait(timeout=240) == 0, "".join(output.seen)[-3000:]
    deadline = time.monotonic() + 20
    while alive(family) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not alive(family), f"left running after {signal.Signals(sig).name}: {alive(family)}"
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{optuna_port}/api/studies", timeout=2)


@pytest.mark.slow
def test_ui_serves_mlflow_and_optuna_dashboard_and_ctrl_c_stops_both(tmp_path):
    storage = f"sqlite:///{tmp_path}/optuna.db"
    study = optuna.create_study(study_name="ui-study", storage=storage, direction="maximize")
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    mlflow_port, optuna_port = free_port(), free_port()
    proc = start_ui(tmp_path, storage, mlflow_port, optuna_port)
    output = Output(proc)
    try:
        assert f"pid {proc.pid}" not in output.until(rf"http://127\.0\.0\.1:{mlflow_port}")
        output.until(rf"http://127\.0\.0\.1:{optuna_port}")
        studies = wait_json(f"http://127.0.0.1:{optuna_port}/api/studies")
        assert [s["study_name"] for s in studies["study_summaries"]] == ["ui-study"]
        experiments = wait_json(
            f"http://127.0.0.1:{mlflow_port}/api/2.0/mlflow/experiments/search?max_results=10")
        assert "Default" in [e["name"] for e in experiments["experiments"]]
        stop_and_check_nothing_survives(proc, signal.SIGINT, output, optuna_port)
    finally:
        cleanup(proc)


@pytest.mark.slow
def test_ui_before_the_first_sweep_serves_both_and_sigterm_leaves_no_process(tmp_path):
    storage = f"sqlite:///{tmp_path}/optuna/optuna.db"  # no study, no file, no folder yet
    mlflow_port, optuna_port = free_port(), free_port()
    proc = start_ui(tmp_path, storage, mlflow_port, optuna_port)
    output = Output(proc)
    try:
        output.until("Ctrl-C stops both")
        assert wait_json(f"http://127.0.0.1:{optuna_port}/api/studies")["study_summaries"] == []
        assert "<html" in wait_ok(f"http://127.0.0.1:{optuna_port}/").text.lower()  # the dashboard page
        assert "<html" in wait_ok(f"http://127.0.0.1:{mlflow_port}/").text.lower()  # the MLflow UI page
        assert proc.poll() is None, "".join(output.seen)[-3000:]
        stop_and_check_nothing_survives(proc, signal.SIGTERM, output, optuna_port)
    finally:
        cleanup(proc)


def test_a_dashboard_that_cannot_start_is_reported_with_its_own_error(tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    optuna_port = taken.getsockname()[1]
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "melanoma_exp.commands.main", "ui", "--optuna-port", str(optuna_port),
             "--storage", f"sqlite:///{tmp_path}/optuna.db", "--tracking-uri", "http://127.0.0.1:1"],
            cwd=project_root(), env=sweep_env(), capture_output=True, text=True, timeout=120,
        )
    finally:
        taken.close()
    assert proc.returncode == 1
    assert "optuna-dashboard exited with code" in proc.stderr
    assert "in use" in proc.stderr.lower(), proc.stderr  # the server's own words, not a guess
