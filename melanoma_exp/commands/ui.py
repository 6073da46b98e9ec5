"""`melanoma ui`: the MLflow UI and optuna-dashboard for the project's stores, on 127.0.0.1.

    melanoma ui                                   # ports 5000 and 8080
    melanoma ui --mlflow-port 5001 --optuna-port 8081

The stores default to the ones the config writes to (`tracking.tracking_uri`,
`tracking.artifact_location`, `sweep.storage` of conf/sweep/optuna.yaml); both servers run from
this environment, so the dashboard reads the study with the sweeper's own Optuna version.
Ctrl-C, SIGTERM or SIGHUP stops both and every process they started. A new Optuna store is
initialised first, so the dashboard also starts before the first sweep.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from pathlib import Path

from melanoma_exp.config import compose
from melanoma_exp.sweep.report import tracking_settings

HOST = "127.0.0.1"


def default_stores() -> tuple[str, str, str]:
    """(MLflow tracking URI, MLflow artifact root, Optuna storage URL) from the project config."""

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


def _init_optuna_storage(url: str) -> None:
    """Create the study tables when the store is new: optuna-dashboard only reads an existing schema
    (on an empty SQLite file it dies with `no such table: version_info`), so `melanoma ui` works
    before the first sweep too."""
    if "://" not in url or url.startswith(("http://", "https://")):
        return  # a journal file or a remote dashboard: nothing to initialise here
    import optuna

    optuna.storages.RDBStorage(url).remove_session()


class _Child:
    """A server started in its own process group; its output is echoed with a prefix and its last
    lines are kept, so a server that dies is reported with its own words."""

    def __init__(self, name: str, command: list[str], env: dict[str, str]):
        self.name = name
        self.tail: deque[str] = deque(maxlen=25)
        self.proc = subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, errors="replace")
        self._reader = threading.Thread(target=self._echo, daemon=True)
        self._reader.start()

    def _echo(self) -> None:
        for line in self.proc.stdout:
            self.tail.append(line.rstrip())
            print(f"[{self.name}] {line}", end="", flush=True)

    def failure(self) -> str:
        """What to tell the user once the server has exited on its own."""
        self._reader.join(timeout=2)
        lines = "\n  ".join(self.tail) or "(no output)"
        return f"{self.name} exited with code {self.proc.returncode}; its last output:\n  {lines}"


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (from /proc), including those that left its process group."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _signal(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _stop(children: list[_Child]) -> None:
    """Stop every server and everything it started (MLflow forks uvicorn and job workers)."""
    procs = [c.proc for c in children]
    family = [pid for p in procs if p.poll() is None for pid in (p.pid, *_descendants(p.pid))]
    for proc in procs:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    _signal(family, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    _signal(family, signal.SIGKILL)  # whatever ignored SIGTERM
    for proc in procs:
        proc.wait()


def _stop_on(*signals: int) -> None:
    """Turn SIGTERM/SIGHUP (a service manager, `kill`, a closed terminal) into the Ctrl-C path."""
    def handler(signum, _frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    for sig in signals:
        signal.signal(sig, handler)


def run_ui(args) -> int:
    """Start both servers, print their URLs, wait for Ctrl-C/SIGTERM/SIGHUP (or for one to die),
    stop both and everything they started."""
    from melanoma_exp import DISCLAIMER

    _stop_on(signal.SIGTERM, signal.SIGHUP)
    uri, artifacts, storage = args.tracking_uri, args.artifacts, args.storage
    remote = bool(uri) and uri.startswith(("http://", "https://"))
    if not (uri and storage and (artifacts or remote)):  # the project's stores fill what is not given
        defaults = default_stores()
        uri, artifacts, storage = uri or defaults[0], artifacts or defaults[1], storage or defaults[2]
    for url in (uri, storage):
        _ensure_sqlite_parent(url)
    _init_optuna_storage(storage)
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true", PYTHONUNBUFFERED="1")
    children: list[_Child] = []
    try:
        if uri.startswith(("http://", "https://")):
            print(f"MLflow:  {uri} (a remote tracking server; not started here)")
        else:
            Path(artifacts).mkdir(parents=True, exist_ok=True)
            children.append(_Child("mlflow", _mlflow_command(uri, artifacts, args.mlflow_port), env))
            print(f"MLflow UI:        http://{HOST}:{args.mlflow_port}  ({uri}; pid {children[-1].proc.pid})")
        children.append(_Child("optuna-dashboard", _dashboard_command(storage, args.optuna_port), env))
        print(f"optuna-dashboard: http://{HOST}:{args.optuna_port}  ({storage}; pid {children[-1].proc.pid})")
        print("Ctrl-C stops both. " + DISCLAIMER, flush=True)
        while all(c.proc.poll() is None for c in children):
            time.sleep(0.5)
        dead = next(c for c in children if c.proc.poll() is not None)
        print(dead.failure() + "\nstopping the other server", file=sys.stderr, flush=True)
        return 1
    except KeyboardInterrupt:
        print("stopping MLflow UI and optuna-dashboard", flush=True)
        return 0
    finally:
        _stop(children)


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
