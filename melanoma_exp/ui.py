"""`melanoma ui`: the MLflow UI and optuna-dashboard for the project's stores, on 127.0.0.1.

    melanoma ui                                   # ports 5000 and 8080
    melanoma ui --mlflow-port 5001 --optuna-port 8081

The stores default to the ones the config writes to (`tracking.tracking_uri`,
`tracking.artifact_location`, `sweep.storage` of conf/sweep/optuna.yaml); both servers run from
this environment, so the dashboard reads the study with the sweeper's own Optuna version.
Ctrl-C stops both.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

HOST = "127.0.0.1"


def default_stores() -> tuple[str, str, str]:
    """(MLflow tracking URI, MLflow artifact root, Optuna storage URL) from the project config."""
    from melanoma_exp.config import compose
    from melanoma_exp.sweep.report import tracking_settings

    cfg = compose(["+sweep=optuna", "tracking=mlflow"])
    uri, _, artifacts = tracking_settings(cfg)
    return uri, artifacts, str(cfg.sweep.storage)


def _dashboard_command(storage: str, port: int) -> list[str]:
    """optuna-dashboard of this environment (wsgiref: gunicorn would write ~/.gunicorn)."""
    exe = Path(sys.executable).with_name("optuna-dashboard")
    found = str(exe) if exe.exists() else shutil.which("optuna-dashboard")
    if not found:
        raise SystemExit("optuna-dashboard is not installed here: pip install optuna-dashboard==0.21.0")
    return [found, storage, "--host", HOST, "--port", str(port), "--server", "wsgiref"]


def _mlflow_command(uri: str, artifacts: str, port: int) -> list[str]:
    return [sys.executable, "-m", "mlflow", "server", "--host", HOST, "--port", str(port),
            "--backend-store-uri", uri, "--default-artifact-root", artifacts, "--workers", "1"]


def _ensure_sqlite_parent(url: str) -> None:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)


def _stop(procs: list[subprocess.Popen]) -> None:
    """Terminate each server's whole process group (MLflow forks uvicorn workers)."""
    for proc in procs:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 15
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def run_ui(args) -> int:
    """Start both servers, print their URLs, wait for Ctrl-C (or for one to die), stop both."""
    from melanoma_exp import DISCLAIMER

    uri, artifacts, storage = default_stores()
    uri, artifacts, storage = args.tracking_uri or uri, args.artifacts or artifacts, args.storage or storage
    for url in (uri, storage):
        _ensure_sqlite_parent(url)
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true")
    procs: list[subprocess.Popen] = []
    names = []
    if uri.startswith(("http://", "https://")):
        print(f"MLflow:  {uri} (a remote tracking server; not started here)")
    else:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        procs.append(subprocess.Popen(_mlflow_command(uri, artifacts, args.mlflow_port), env=env,
                                      start_new_session=True))
        names.append("MLflow UI")
        print(f"MLflow UI:        http://{HOST}:{args.mlflow_port}  ({uri}; pid {procs[-1].pid})")
    procs.append(subprocess.Popen(_dashboard_command(storage, args.optuna_port), env=env,
                                  start_new_session=True))
    names.append("optuna-dashboard")
    print(f"optuna-dashboard: http://{HOST}:{args.optuna_port}  ({storage}; pid {procs[-1].pid})")
    print("Ctrl-C stops both. " + DISCLAIMER, flush=True)
    try:
        while all(proc.poll() is None for proc in procs):
            time.sleep(0.5)
        dead = next(n for n, p in zip(names, procs, strict=True) if p.poll() is not None)
        print(f"{dead} exited (is its port already in use?); stopping the other", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("stopping MLflow UI and optuna-dashboard", flush=True)
        return 0
    finally:
        _stop(procs)


def register(subparsers) -> None:
    """Add `melanoma ui` to the CLI."""
    parser = subparsers.add_parser(
        "ui", help="MLflow UI and optuna-dashboard on 127.0.0.1 for the project's stores",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("--mlflow-port", type=int, default=5000, help="MLflow UI port (5000)")
    parser.add_argument("--optuna-port", type=int, default=8080, help="optuna-dashboard port (8080)")
    parser.add_argument("--tracking-uri", help="MLflow store (default: tracking.tracking_uri)")
    parser.add_argument("--artifacts", help="MLflow artifact root (default: tracking.artifact_location)")
    parser.add_argument("--storage", help="Optuna storage URL (default: sweep.storage)")
    parser.set_defaults(func=run_ui)
