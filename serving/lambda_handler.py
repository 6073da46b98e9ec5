"""AWS Lambda entry point: the same FastAPI app behind Mangum (API Gateway REST v1 and HTTP v2).

The app, and with it the LiteRT interpreter, is built at import time, during the Lambda init
phase, so every warm invocation reuses it. Container CMD: ``serving.lambda_handler.handler``.
"""

from __future__ import annotations

from mangum import Mangum

from serving.app import create_app

app = create_app()
# lifespan off: the app needs no startup hooks, and this saves work on every cold start.
handler = Mangum(app, lifespan="off")
