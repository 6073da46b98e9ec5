"""The real Lambda container entrypoint (`python -m awslambdaric serving.lambda_handler.handler`)
driven by a fake Lambda Runtime API on 127.0.0.1 with API Gateway REST (v1) and HTTP (v2) events."""

from __future__ import annotations

import json
import os
import sys

import pytest
from serving_helpers import ROOT, encode, http_v2_event, lesion_image, rest_v1_event, run_lambda_runtime

API_KEY = "lambda-test-key"


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
            make("POST", "/v1/predict", jpeg, good, {"explain": "1"}),
            make("POST", "/v1/predict", jpeg, good, {"explain": "maybe"}),
        ]
    env = {**os.environ, "MELANOMA_BUNDLE": str(tiny_bundle), "MELANOMA_API_KEY": API_KEY,
           "PYTHONPATH": str(ROOT), "LAMBDA_TASK_ROOT": str(ROOT)}
    responses, errors, _ = run_lambda_runtime(sys.executable, events, ROOT, env)
    assert not errors, errors
    return responses


@pytest.mark.parametrize("offset,kind", [(0, "rest-v1"), (7, "http-v2")])
def test_lambda_answers_like_the_http_app(lambda_results, offset, kind):
    ok, bad, nokey, health, page, explained, bad_explain = (lambda_results[f"req-{offset + i}"] for i in range(7))
    body = json.loads(ok["body"])
    assert ok["statusCode"] == 200, (kind, ok)
    assert body["label"] in ("benign", "malignant") and "not medical advice" in body["disclaimer"]
    assert bad["statusCode"] == 400 and json.loads(bad["body"])["error"]["code"] == "invalid_image"
    assert nokey["statusCode"] == 401 and json.loads(nokey["body"])["error"]["code"] == "unauthorized"
    assert health["statusCode"] == 200 and json.loads(health["body"])["status"] == "ok"
    assert page["statusCode"] == 200 and 'capture="environment"' in page["body"]
    assert "explanation" not in body
    # The query string travels through API Gateway and Mangum: ?explain=1 explains, a bad value is a 400.
    assert explained["statusCode"] == 200, (kind, explained)
    explanation = json.loads(explained["body"])["explanation"]
    assert explanation["available"] is True and explanation["overlay_png"] and explanation["heatmap"]["values"]
    assert json.loads(explained["body"])["malignant_probability"] == body["malignant_probability"]
    assert bad_explain["statusCode"] == 400 and "explain" in json.loads(bad_explain["body"])["error"]["message"]
