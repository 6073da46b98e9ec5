"""Runtime settings of the serving app, read from the environment (12-factor, Lambda friendly).

| Variable | Default | Meaning |
|---|---|---|
| `MELANOMA_BUNDLE` | `bundle` next to the handler, else `outputs/bundle` | bundle folder |
| `MELANOMA_MODEL_VARIANT` | `float` | `float` (model.tflite) or `int8` (model_int8.tflite) |
| `MELANOMA_THREADS` | `2` | LiteRT interpreter threads |
| `MELANOMA_API_KEY` | unset | when set, `/v1/*` needs header `x-api-key` with this value |
| `MELANOMA_CORS_ORIGINS` | unset | comma-separated origins allowed by CORS (`*` for any) |
| `MELANOMA_MAX_BODY_BYTES` | `15000000` | request body limit, checked before decoding |
| `MELANOMA_MAX_PIXELS` | `120000000` | decompression-bomb guard (width x height) |
| `MELANOMA_TTA` | unset | test-time augmentation, e.g. `hflip,vflip,rot90` (k+1 model calls per request) |
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from serving.tta import parse_tta

_HERE = Path(__file__).resolve().parent


def _default_bundle() -> Path:
    """The baked-in bundle of the Lambda image, else the project's exported champion."""
    baked = _HERE / "bundle"
    if (baked / "model.json").is_file():
        return baked
    return _HERE.parent / "outputs" / "bundle"


def _int_env(name: str, default: int, minimum: int = 1) -> int:
    """Read a positive integer variable with an error that names it."""
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from exc
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


@dataclass(frozen=True)
class Settings:
    """Everything the app needs besides the bundle itself."""

    bundle_dir: Path = field(default_factory=_default_bundle)
    model_variant: str = "float"
    threads: int = 2
    api_key: str | None = None
    cors_origins: tuple[str, ...] = ()
    max_body_bytes: int = 15_000_000
    max_pixels: int = 120_000_000
    tta: tuple[str, ...] = ()  # serving.tta transform names; () = off

    @classmethod
    def from_env(cls, **overrides) -> Settings:
        """Settings from `MELANOMA_*` variables; keyword overrides win (CLI flags, tests)."""
        env = os.environ
        origins = tuple(o.strip() for o in env.get("MELANOMA_CORS_ORIGINS", "").split(",") if o.strip())
        values = {
            "bundle_dir": Path(env["MELANOMA_BUNDLE"]) if env.get("MELANOMA_BUNDLE") else _default_bundle(),
            "model_variant": env.get("MELANOMA_MODEL_VARIANT", "float"),
            "threads": _int_env("MELANOMA_THREADS", 2),
            "api_key": env.get("MELANOMA_API_KEY") or None,
            "cors_origins": origins,
            "max_body_bytes": _int_env("MELANOMA_MAX_BODY_BYTES", 15_000_000),
            "max_pixels": _int_env("MELANOMA_MAX_PIXELS", 120_000_000),
            "tta": parse_tta(env.get("MELANOMA_TTA")),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        if values["model_variant"] not in ("float", "int8"):
            raise ValueError(f"MELANOMA_MODEL_VARIANT must be 'float' or 'int8', got {values['model_variant']!r}")
        values["bundle_dir"] = Path(values["bundle_dir"]).expanduser().resolve()
        return cls(**values)
