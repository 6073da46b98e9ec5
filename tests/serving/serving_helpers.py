"""Helpers shared by the serving tests (images, ports, polling). Imported as `serving_helpers`."""

from __future__ import annotations

import base64
import io
import json
import socket
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pillow_heif
from PIL import Image

pillow_heif.register_heif_opener()  # lets encode() write HEIC test images

ROOT = Path(__file__).resolve().parents[2]


def lesion_image(size: tuple[int, int] = (640, 480), seed: int = 0) -> Image.Image:
    """A textured skin-like photo with a dark lesion: passes the quality gate at >= 224 px."""
    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.array([200, 150, 120], np.float32) + rng.normal(0, 14, (h, w, 3))
    inside = ((yy - h / 2) / (h / 4)) ** 2 + ((xx - w / 2) / (w / 5)) ** 2 < 1
    img[inside] = np.array([90, 55, 40]) + rng.normal(0, 14, (int(inside.sum()), 3))
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


def encode(image: Image.Image, fmt: str = "JPEG", **kwargs) -> bytes:
    """Encode an image in memory."""
    buf = io.BytesIO()
    image.save(buf, fmt, **kwargs)
    return buf.getvalue()


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout: float = 30.0, proc: subprocess.Popen | None = None) -> None:
    """Poll ``url`` until it answers (any status) or fail with the server's output."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"server exited early with {proc.returncode}")
        try:
            httpx.get(url, timeout=1.0)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer within {timeout} s")


# Installed in the server process via sitecustomize: records every file the process opens for
# writing (including unnamed O_TMPFILE spools, which leave no trace in a directory listing).
AUDIT_HOOK = """
import os, sys
_fd = os.open({log!r}, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
_WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | getattr(os, "O_TMPFILE", 0)
def _hook(event, args):
    if event == "open" and args and args[0] is not None and not isinstance(args[0], int):
        mode, flags = args[1] or "", args[2] or 0
        if any(c in str(mode) for c in "wax+") or (isinstance(flags, int) and flags & _WRITE):
            os.write(_fd, (str(args[0]) + "\\n").encode())
    elif event in ("tempfile.mkstemp", "tempfile.mkdtemp"):
        os.write(_fd, (event + " " + str(args[0]) + "\\n").encode())
sys.addaudithook(_hook)
"""


def start_uvicorn(bundle: Path, workdir: Path, env_extra: dict | None = None) -> tuple[subprocess.Popen, str]:
    """Start the real app under uvicorn on a free 127.0.0.1 port, cwd and TMPDIR inside ``workdir``.

    Output goes to ``workdir/logs/server.log``. Returns ``(process, base_url)``; stop it with
    ``proc.terminate()``.
    """
    import os
    import sys

    port = free_port()
    (workdir / "tmp").mkdir(parents=True, exist_ok=True)
    (workdir / "cwd").mkdir(exist_ok=True)
    (workdir / "logs").mkdir(exist_ok=True)
    hook_dir = workdir / "audit"
    hook_dir.mkdir(exist_ok=True)
    (hook_dir / "sitecustomize.py").write_text(AUDIT_HOOK.format(log=str(workdir / "logs" / "writes.log")))
    env = {**os.environ, "MELANOMA_BUNDLE": str(bundle), "TMPDIR": str(workdir / "tmp"),
           "PYTHONPATH": f"{hook_dir}{os.pathsep}{ROOT}", "PYTHONDONTWRITEBYTECODE": "1", **(env_extra or {})}
    log = open(workdir / "logs" / "server.log", "wb")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "serving.app:app", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "debug"], cwd=workdir / "cwd", env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(base + "/health", proc=proc)
    except AssertionError:
        proc.kill()
        raise
    return proc, base


PREFIX = "/2018-06-01/runtime"


class FakeRuntimeAPI:
    """Serves queued events on `GET /invocation/next`, collects `/response` and `/error` posts."""

    def __init__(self, events: list[dict]):
        self.pending = list(enumerate(events))
        self.responses: dict[str, dict] = {}
        self.errors: list[dict] = []
        self.done = threading.Event()
        self.stop = threading.Event()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):  # keep test output quiet
                pass

            def _reply(self, status: int, body: bytes = b"{}", headers: dict | None = None):
                self.send_response(status)
                for key, value in {"Content-Type": "application/json", **(headers or {})}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                if self.path != f"{PREFIX}/invocation/next":
                    return self._reply(404)
                if not api.pending:
                    api.done.set()
                    api.stop.wait(60)  # the runtime long-polls; the test kills it meanwhile
                    self.close_connection = True
                    return None
                index, event = api.pending.pop(0)
                self._reply(200, json.dumps(event).encode(), {
                    "Lambda-Runtime-Aws-Request-Id": f"req-{index}",
                    "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 60_000),
                    "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:eu-west-1:123456789012:function:melanoma",
                    "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000;Sampled=0",
                })

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path.endswith("/response"):
                    api.responses[self.path.split("/")[-2]] = json.loads(body)
                else:  # invocation error or init error
                    api.errors.append({"path": self.path, "body": body.decode(errors="replace")})
                self._reply(202)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.address = f"127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.stop.set()
        self.server.shutdown()


def rest_v1_event(method: str, path: str, body: bytes | None, headers: dict, query: dict | None = None) -> dict:
    """An API Gateway REST API (v1) Lambda-proxy event, binary body base64-encoded."""
    return {
        "resource": "/{proxy+}", "path": path, "httpMethod": method,
        "headers": headers, "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()} if query else None,
        "pathParameters": {"proxy": path.lstrip("/")}, "stageVariables": None,
        "requestContext": {"resourcePath": "/{proxy+}", "httpMethod": method, "path": f"/prod{path}",
                           "stage": "prod", "requestId": "r1", "accountId": "123456789012", "apiId": "abc",
                           "protocol": "HTTP/1.1", "identity": {"sourceIp": "203.0.113.9"},
                           "requestTimeEpoch": 0},
        "body": base64.b64encode(body).decode() if body is not None else None,
        "isBase64Encoded": body is not None,
    }


def http_v2_event(method: str, path: str, body: bytes | None, headers: dict, query: dict | None = None) -> dict:
    """An API Gateway HTTP API (v2 payload) event, binary body base64-encoded."""
    from urllib.parse import urlencode

    return {
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": urlencode(query or {}),
        **({"queryStringParameters": query} if query else {}),
        "headers": headers,
        "requestContext": {"accountId": "123456789012", "apiId": "abc", "domainName": "abc.example.com",
                           "domainPrefix": "abc", "requestId": "r2", "routeKey": "$default",
                           "stage": "$default", "time": "25/Nov/2026:21:00:00 +0000", "timeEpoch": 0,
                           "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                                    "sourceIp": "203.0.113.9", "userAgent": "test"}},
        "body": base64.b64encode(body).decode() if body is not None else None,
        "isBase64Encoded": body is not None,
    }


def run_lambda_runtime(python: str, events: list[dict], cwd: Path, env: dict, timeout: float = 90):
    """Run AWS's runtime client (`python -m awslambdaric serving.lambda_handler.handler`) against a
    fake Runtime API serving `events`; return (responses by request id, errors, runtime output)."""
    api = FakeRuntimeAPI(events)
    proc = subprocess.Popen([python, "-m", "awslambdaric", "serving.lambda_handler.handler"], cwd=cwd,
                            env={**env, "AWS_LAMBDA_RUNTIME_API": api.address},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        finished = api.done.wait(timeout)
    finally:
        proc.kill()
        output = proc.communicate(timeout=10)[0].decode(errors="replace")
        api.close()
    assert finished, f"runtime did not drain the events; output:\n{output[-3000:]}"
    return api.responses, api.errors, output
