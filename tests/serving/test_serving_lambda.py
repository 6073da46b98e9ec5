"""The real Lambda container entrypoint (`python -m awslambdaric serving.lambda_handler.handler`)
driven by a fake Lambda Runtime API on 127.0.0.1 with API Gateway REST (v1) and HTTP (v2) events."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from serving_helpers import ROOT, encode, lesion_image

API_KEY = "lambda-test-key"
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


def rest_v1_event(method: str, path: str, body: bytes | None, headers: dict) -> dict:
    """An API Gateway REST API (v1) Lambda-proxy event, binary body base64-encoded."""
    return {
        "resource": "/{proxy+}", "path": path, "httpMethod": method,
        "headers": headers, "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": None, "multiValueQueryStringParameters": None,
        "pathParameters": {"proxy": path.lstrip("/")}, "stageVariables": None,
        "requestContext": {"resourcePath": "/{proxy+}", "httpMethod": method, "path": f"/prod{path}",
                           "stage": "prod", "requestId": "r1", "accountId": "123456789012", "apiId": "abc",
                           "protocol": "HTTP/1.1", "identity": {"sourceIp": "203.0.113.9"},
                           "requestTimeEpoch": 0},
        "body": base64.b64encode(body).decode() if body is not None else None,
        "isBase64Encoded": body is not None,
    }


def http_v2_event(method: str, path: str, body: bytes | None, headers: dict) -> dict:
    """An API Gateway HTTP API (v2 payload) event, binary body base64-encoded."""
    return {
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
        "headers": headers,
        "requestContext": {"accountId": "123456789012", "apiId": "abc", "domainName": "abc.example.com",
                           "domainPrefix": "abc", "requestId": "r2", "routeKey": "$default",
                           "stage": "$default", "time": "25/Nov/2026:21:00:00 +0000", "timeEpoch": 0,
                           "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                                    "sourceIp": "203.0.113.9", "userAgent": "test"}},
        "body": base64.b64encode(body).decode() if body is not None else None,
        "isBase64Encoded": body is not None,
    }


@pytest.fixture(scope="module")
def lambda_results(tiny_bundle):
    """Run awslambdaric against the fake Runtime API over all events; return responses by id."""
    jpeg = encode(lesion_image(seed=3))
    good = {"content-type": "image/jpeg", "x-api-key": API_KEY}
    events = []
    for make in (rest_v1_event, http_v2_event):
        events += [
            make("POST", "/v1/predict", jpeg, good),
            make("POST", "/v1/predict", b"definitely not a jpeg", good),
            make("POST", "/v1/predict", jpeg, {"content-type": "image/jpeg"}),
            make("GET", "/health", None, {}),
            make("GET", "/", None, {}),
        ]
    api = FakeRuntimeAPI(events)
    env = {**os.environ, "AWS_LAMBDA_RUNTIME_API": api.address, "MELANOMA_BUNDLE": str(tiny_bundle),
           "MELANOMA_API_KEY": API_KEY, "PYTHONPATH": str(ROOT), "LAMBDA_TASK_ROOT": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "awslambdaric", "serving.lambda_handler.handler"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        finished = api.done.wait(90)
    finally:
        proc.kill()
        output = proc.communicate(timeout=10)[0].decode(errors="replace")
        api.close()
    assert finished, f"runtime did not drain the events; output:\n{output[-3000:]}"
    assert not api.errors, api.errors
    return api.responses


@pytest.mark.parametrize("offset,kind", [(0, "rest-v1"), (5, "http-v2")])
def test_lambda_answers_like_the_http_app(lambda_results, offset, kind):
    ok, bad, nokey, health, page = (lambda_results[f"req-{offset + i}"] for i in range(5))
    body = json.loads(ok["body"])
    assert ok["statusCode"] == 200, (kind, ok)
    assert body["label"] in ("benign", "malignant") and "not medical advice" in body["disclaimer"]
    assert bad["statusCode"] == 400 and json.loads(bad["body"])["error"]["code"] == "invalid_image"
    assert nokey["statusCode"] == 401 and json.loads(nokey["body"])["error"]["code"] == "unauthorized"
    assert health["statusCode"] == 200 and json.loads(health["body"])["status"] == "ok"
    assert page["statusCode"] == 200 and 'capture="environment"' in page["body"]
