"""`melanoma register | promote | export`: the model registry and the bundle from the command line."""

from __future__ import annotations

import argparse
import sys

from melanoma_exp.evaluation.tta import check_transforms
from melanoma_exp.export.bundle import bundle_files
from melanoma_exp.export.registry import (
    DEFAULT_MODEL_NAME,
    DEFAULT_PROMOTE_METRIC,
    RegistryError,
    champion_version,
    export_model,
    promote,
    register_run,
)
from melanoma_exp.tracking.tracker import project_store


def default_tracking_uri() -> str:
    """`$MLFLOW_TRACKING_URI`, else the project's `tracking.tracking_uri` (absolute, under outputs/)."""
    import os

    # The variable wins without composing the project config (which needs conf/ under the root).
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]

    return project_store()[0]


def _tracking_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tracking-uri", default=None,
                        help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or the project's store)")


def cmd_register(args: argparse.Namespace) -> int:
    uri = args.tracking_uri or default_tracking_uri()
    metric = args.metric if args.auto_promote else None
    version = register_run(args.run_id, args.name, tracking_uri=uri, auto_promote_metric=metric)
    print(f"registered run {args.run_id} as {args.name} version {version}")
    if args.auto_promote:
        print(f"champion of {args.name} is now version {champion_version(args.name, tracking_uri=uri)}")
    return 0


def cmd_promote(args: argparse.Namespace) -> int:
    promote(args.name, args.version, tracking_uri=args.tracking_uri or default_tracking_uri())
    print(f"{args.name}@champion -> version {args.version}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    out = export_model(args.model, args.out, tracking_uri=args.tracking_uri or default_tracking_uri(),
                       log_to_run=not args.no_log, tta=args.tta)
    print(f"bundle written to {out} ({bundle_files(out)})")
    if args.tta:
        print(f"test-time augmentation is inside the models: mean over {', '.join(args.tta)} "
              f"({len(args.tta)} model calls per image); do not also set MELANOMA_TTA when serving it")
    return 0


def tta_transforms(value: str) -> list[str]:
    """``--tta hflip,vflip,rot90`` -> identity first, then those (as MELANOMA_TTA in serving)."""

    try:
        names = check_transforms([n.strip() for n in value.split(",") if n.strip()])
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return ["identity", *[n for n in names if n != "identity"]]


def guarded(func, *, also: tuple[type[Exception], ...] = ()):
    """Turn registry errors (and the `also` ones) into one readable line and exit status 1.

    Shared by every `melanoma` command that resolves models or runs (register, promote, export,
    ensemble, compare-robustness).
    """

    def run(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except (RegistryError, *also) as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1

    return run


def register(subparsers) -> None:
    """Add `register`, `promote` and `export` to the `melanoma` command."""
    p = subparsers.add_parser("register", help="register a training run's model in the MLflow registry")
    p.add_argument("run_id", help="MLflow run id that logged the model")
    p.add_argument("--name", default=DEFAULT_MODEL_NAME, help=f"registered model name ({DEFAULT_MODEL_NAME})")
    p.add_argument("--auto-promote", action="store_true",
                   help="make it champion if it beats the current champion on --metric")
    p.add_argument("--metric", default=DEFAULT_PROMOTE_METRIC,
                   help=f"run metric for --auto-promote, higher is better ({DEFAULT_PROMOTE_METRIC})")
    _tracking_arg(p)
    p.set_defaults(func=guarded(cmd_register))

    p = subparsers.add_parser("promote", help="point the 'champion' alias at a model version")
    p.add_argument("name", help="registered model name")
    p.add_argument("version", help="version number to promote")
    _tracking_arg(p)
    p.set_defaults(func=guarded(cmd_promote))

    p = subparsers.add_parser("export", help="write the model bundle (keras, LiteRT float/int8, model.json, card)")
    p.add_argument("model", help="models:/NAME@champion, models:/NAME/VERSION, runs:/RUN_ID/model or a run id")
    p.add_argument("--out", required=True, help="bundle folder to write")
    p.add_argument("--no-log", action="store_true", help="do not log the bundle back to the MLflow run")
    p.add_argument("--tta", nargs="?", const="hflip,vflip,rot90", default=None, type=tta_transforms,
                   metavar="T1,T2", help="bake test-time augmentation into the exported models: each image's "
                   "probability is the mean over it and these flipped/rotated copies (default hflip,vflip,rot90; "
                   "k+1 model calls per image; serving and the app need no change)")
    _tracking_arg(p)
    p.set_defaults(func=guarded(cmd_export))
