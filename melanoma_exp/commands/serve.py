"""`melanoma serve`: run the serving app (FastAPI + LiteRT) on a bundle with uvicorn.

Without `--bundle` it serves `outputs/bundle`, exporting the registered champion there first when
that folder holds no bundle yet, so `make demo` followed by `make serve` just works.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from melanoma_exp.commands.registry import default_tracking_uri
from melanoma_exp.export.registry import DEFAULT_MODEL_NAME, champion_version, export_model
from melanoma_exp.paths import project_root


def default_bundle_dir() -> Path:
    """Where `make serve` keeps the exported champion."""
    return project_root() / "outputs" / "bundle"


def ensure_bundle(bundle: Path, model_name: str, tracking_uri: str | None) -> Path:
    """Export ``models:/NAME@champion`` into ``bundle`` unless a bundle is already there.

    Raises:
        SystemExit: with a message saying how to get a champion, when there is none.
    """
    if (bundle / "model.json").is_file():
        return bundle

    uri = tracking_uri or default_tracking_uri()
    if champion_version(model_name, tracking_uri=uri) is None:
        raise SystemExit(
            f"error: no bundle at {bundle} and no champion model '{model_name}' in {uri}.\n"
            "  Train and register one first: `make demo`, or `python run.py tracking.register=true`,\n"
            "  or `melanoma register RUN_ID` then `melanoma promote NAME VERSION`.\n"
            "  Or serve a bundle you have: `melanoma serve --bundle DIR` (a small test bundle:\n"
            "  `python -m melanoma_exp.export.tiny_bundle --out DIR`)."
        )
    print(f"no bundle at {bundle}: exporting models:/{model_name}@champion (takes a while) ...", flush=True)
    return export_model(f"models:/{model_name}@champion", bundle, tracking_uri=uri)


def cmd_serve(args: argparse.Namespace) -> int:
    """Resolve the bundle, build the app once, and run uvicorn."""
    bundle = Path(args.bundle).expanduser().resolve() if args.bundle else default_bundle_dir()
    if args.bundle and not (bundle / "model.json").is_file():
        print(f"error: {bundle} is not a model bundle (no model.json)", file=sys.stderr)
        return 1
    ensure_bundle(bundle, args.model_name, args.tracking_uri)
    # The serving package sits next to melanoma_exp in the checkout; an editable install made
    # before serving/ existed does not map it, so make the checkout importable.
    checkout = str(Path(__file__).resolve().parent.parent)
    if checkout not in sys.path:
        sys.path.insert(0, checkout)
    import uvicorn

    from serving.app import create_app
    from serving.settings import Settings

    settings = Settings.from_env(bundle_dir=bundle, threads=args.threads, model_variant=args.variant)
    app = create_app(settings)
    spec = app.state.service.spec
    print(f"serving {spec['name']} v{spec['version']} from {bundle} on http://{args.host}:{args.port}/ "
          f"(API docs at /docs). Not medical advice.", flush=True)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


def register(subparsers) -> None:
    """Add `melanoma serve`."""

    p = subparsers.add_parser("serve", help="serve a model bundle over HTTP (API v1 + browser page)")
    p.add_argument("--bundle", default=None,
                   help="bundle folder (default: outputs/bundle, exported from the champion if missing)")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--threads", type=int, default=None, help="LiteRT threads (default $MELANOMA_THREADS or 2)")
    p.add_argument("--variant", choices=["float", "int8"], default=None,
                   help="which LiteRT model to run (default $MELANOMA_MODEL_VARIANT or float)")
    p.add_argument("--model-name", default=DEFAULT_MODEL_NAME,
                   help=f"registered model whose champion is exported when no bundle exists ({DEFAULT_MODEL_NAME})")
    p.add_argument("--tracking-uri", default=None, help="MLflow tracking URI for that export")
    p.set_defaults(func=cmd_serve)
