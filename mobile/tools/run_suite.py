"""Run the Kotlin core's JUnit suite against real serving apps on 127.0.0.1.

`python mobile/tools/run_suite.py --classpath CP --bundle DIR --fixtures DIR` starts two instances
of `melanoma serve` on free ports — one open, one with an API key and a small body limit (for the
401 and 413 tests) — waits until both answer /health, runs the JUnit runner
(`com.melanomaexp.core.RunAllTestsKt`), stops the servers and exits with the runner's status.
The runner discovers the test classes in the test jar itself; its output (`discovered N test
classes: A, B, ...` first, one `ok`/`FAIL` line per test, `N passed, M failed` last) goes straight
to this script's stdout. Called by `make -C mobile test`.
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

KEYED_MAX_BODY = 200_000  # a small limit: the 413 test need not send megabytes
READY_TIMEOUT_S = 90


def free_port() -> int:
    """A port that was free a moment ago on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve_command(py: str, bundle: Path, port: int) -> list[str]:
    """`melanoma serve` (contract 7) for ``bundle`` on 127.0.0.1:``port``."""
    return [py, "-m", "melanoma_exp.commands.main", "serve", "--bundle", str(bundle), "--host", "127.0.0.1",
            "--port", str(port)]


def start_server(py: str, bundle: Path, port: int, log: Path, **env: str) -> subprocess.Popen:
    """Start `melanoma serve` for ``bundle`` on ``port`` (settings from ``env``); output goes to ``log``."""
    cmd = serve_command(py, bundle, port)
    full_env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "TF_CPP_MIN_LOG_LEVEL": "2", **env}
    with open(log, "wb") as out:
        return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=full_env)


def wait_ready(proc: subprocess.Popen, port: int, log: Path) -> None:
    """Block until GET /health answers 200; fail with the server log if it dies or never answers."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.3)
    raise RuntimeError(f"server on port {port} did not answer /health in {READY_TIMEOUT_S}s:\n"
                       f"{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen) -> None:
    """Terminate a server we started, killing it if it does not stop in time."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classpath", required=True, help="JVM classpath with the core, its tests, JUnit, org.json")
    parser.add_argument("--bundle", required=True, type=Path, help="model bundle the servers load")
    parser.add_argument("--fixtures", required=True, type=Path, help="folder written by make_fixtures.py")
    parser.add_argument("--logs", required=True, type=Path, help="folder for the server logs")
    parser.add_argument("--java", default="java", help="java executable")
    parser.add_argument("--python", default=sys.executable, help="python that has the project installed")
    args = parser.parse_args(argv)
    args.logs.mkdir(parents=True, exist_ok=True)
    api_key = secrets.token_urlsafe(16)
    open_port, keyed_port = free_port(), free_port()
    servers = []
    try:
        logs = [args.logs / "server-open.log", args.logs / "server-keyed.log"]
        servers.append(start_server(args.python, args.bundle, open_port, logs[0]))
        servers.append(start_server(args.python, args.bundle, keyed_port, logs[1],
                                    MELANOMA_API_KEY=api_key, MELANOMA_MAX_BODY_BYTES=str(KEYED_MAX_BODY)))
        for proc, port, log in zip(servers, (open_port, keyed_port), logs, strict=True):
            wait_ready(proc, port, log)
        props = {
            "melanoma.url": f"http://127.0.0.1:{open_port}",
            "melanoma.keyedUrl": f"http://127.0.0.1:{keyed_port}",
            "melanoma.apiKey": api_key,
            "melanoma.keyedMaxBodyBytes": str(KEYED_MAX_BODY),
            "melanoma.bundle": str(args.bundle.resolve()),
            "melanoma.fixtures": str(args.fixtures.resolve()),
        }
        cmd = [args.java, "-Djava.awt.headless=true", *(f"-D{k}={v}" for k, v in props.items()),
               "-cp", args.classpath, "com.melanomaexp.core.RunAllTestsKt"]
        sys.stdout.flush()
        # The JVM inherits stdout/stderr: its lines (the discovered count first) reach make unchanged.
        return subprocess.run(cmd, check=False).returncode
    except RuntimeError as exc:
        print(f"test setup failed: {exc}", file=sys.stderr)
        print("0 passed, 1 failed")
        return 1
    finally:
        for proc in servers:
            stop(proc)


if __name__ == "__main__":
    sys.exit(main())
