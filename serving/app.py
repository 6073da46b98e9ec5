"""FastAPI app implementing HTTP API v1 (contract 5) over the model bundle.

`create_app(settings)` builds an app around one loaded LiteRT interpreter. `serving.app:app` (for
uvicorn) is built from the environment on first access; `serving.lambda_handler` builds it at import
so a warm Lambda reuses the interpreter.
"""

from __future__ import annotations

import hmac
import time
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from serving.body import check_content_type, content_type, image_from_multipart, read_limited_body
from serving.decode import ACCEPTED_TYPES
from serving.errors import ApiError
from serving.service import LesionService
from serving.settings import Settings

STATIC_DIR = Path(__file__).resolve().parent / "static"


class Recommendation(BaseModel):
    level: str
    text: str


class Quality(BaseModel):
    ok: bool
    issues: list[str]


class ModelRef(BaseModel):
    name: str
    version: str


class Heatmap(BaseModel):
    height: int = Field(description="rows of the map (the explained block's resolution, 7 for a 224 px EfficientNet)")
    width: int
    values: list[list[float]] = Field(description="height rows of width values in [0, 1] (1 = weighed most)")


class Explanation(BaseModel):
    """Where the model looked (Grad-CAM): only with ``?explain=1``. What the model used, not a diagnosis."""

    available: bool = Field(description="false when the bundle ships no explain.tflite (see reason)")
    method: str | None = Field(None, description="grad-cam")
    heatmap: Heatmap | None = None
    overlay_png: str | None = Field(None, description="base64 PNG: the map in jet colours blended over the "
                                    "pixels the model saw (model input size)")
    overlay_size: list[int] | None = Field(None, description="[width, height] of overlay_png")
    reason: str | None = Field(None, description="why there is no explanation (available false)")
    note: str = Field(description="how to read the map; not medical advice")


class Prediction(BaseModel):
    """Answer of POST /v1/predict (``explanation`` only with ``?explain=1``)."""

    label: str
    malignant_probability: float
    benign_probability: float
    threshold: float
    recommendation: Recommendation
    quality: Quality
    model: ModelRef
    disclaimer: str
    latency_ms: float
    explanation: Explanation | None = Field(None, description="only with ?explain=1 (absent otherwise)")


class ErrorDetail(BaseModel):
    code: str
    message: str


class ErrorBody(BaseModel):
    """Every error answer."""

    error: ErrorDetail


_ERRORS = {status: {"model": ErrorBody} for status in (400, 401, 413, 415)}
_PREDICT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {"type": "object", "properties": {"image": {"type": "string", "format": "binary"}},
                           "required": ["image"]}
            },
            **{mime: {"schema": {"type": "string", "format": "binary"}} for mime in ACCEPTED_TYPES},
        },
    }
}


EXPLAIN_VALUES = {"1": True, "true": True, "0": False, "false": False}
EXPLAIN_HELP = ("1 or true: add `explanation`, the Grad-CAM map of where the model looked and its overlay "
                "on the model input (costs a second inference); 0, false or absent: no explanation. "
                "Case-insensitive; any other value is a 400.")


def parse_explain(value: str | None) -> bool:
    """The ``explain`` query parameter: 1/0/true/false (any case) or absent; else a 400 naming it."""
    if value is None:
        return False
    flag = EXPLAIN_VALUES.get(value.strip().lower())
    if flag is None:
        raise ApiError(400, "bad_request",
                       f"query parameter explain must be 1, 0, true or false, got {value[:40]!r}")
    return flag


def _error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _install_error_handlers(app: FastAPI) -> None:
    """Every error is JSON with a code; bad input never becomes a 500."""

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed"}
        return _error_response(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _error_response(400, "bad_request", str(exc.errors())[:500])

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        # A bug or a broken bundle, never the client's input; the message holds no image data.
        return _error_response(500, "internal_error", f"internal error: {type(exc).__name__}")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app: load the bundle and interpreter once, wire routes, CORS and error handlers."""
    settings = settings or Settings.from_env()
    service = LesionService(settings)
    page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    app = FastAPI(
        title="melanoma-exp lesion classifier",
        version="1",
        description=f"Benign-vs-malignant skin-lesion classifier (model {service.spec['name']} "
        f"v{service.spec['version']}). {service.spec['disclaimer']}",
    )
    app.state.service = service
    _install_error_handlers(app)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origins),
                           allow_methods=["GET", "POST"], allow_headers=["content-type", "x-api-key"])

    def require_key(request: Request) -> None:
        if settings.api_key is None:
            return
        given = request.headers.get("x-api-key", "")
        if not hmac.compare_digest(given.encode(), settings.api_key.encode()):
            raise ApiError(401, "unauthorized", "a valid API key is required in the x-api-key header")

    @app.get("/health", summary="Liveness and the loaded model")
    def health() -> dict[str, Any]:
        return {"status": "ok", "model": {"name": service.spec["name"], "version": service.spec["version"]}}

    @app.get("/v1/model", summary="model.json minus bundle internals", responses={401: {"model": ErrorBody}})
    def model_info(request: Request) -> dict[str, Any]:
        require_key(request)
        return service.public_spec

    @app.post("/v1/predict", summary="Classify one lesion photo", response_model=Prediction,
              responses=_ERRORS, openapi_extra=_PREDICT_BODY)
    async def predict(request: Request,
                      explain: str | None = Query(None, description=EXPLAIN_HELP,
                                                  examples=["1", "0", "true", "false"])) -> JSONResponse:
        start = time.perf_counter()
        require_key(request)
        explained = parse_explain(explain)
        mime = content_type(request)
        check_content_type(mime)
        body = await read_limited_body(request, settings.max_body_bytes)
        data = image_from_multipart(body, request.headers["content-type"]) if mime == "multipart/form-data" else body
        result = await run_in_threadpool(service.analyse, data, explained)
        result["latency_ms"] = (time.perf_counter() - start) * 1000.0
        return JSONResponse(result)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def index() -> HTMLResponse:
        return HTMLResponse(page)

    return app


_APP: FastAPI | None = None


def __getattr__(name: str) -> Any:
    """``serving.app:app`` for uvicorn: built from the environment once, on first access."""
    global _APP
    if name == "app":
        if _APP is None:
            _APP = create_app()
        return _APP
    raise AttributeError(name)
