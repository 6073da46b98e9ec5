"""`melanoma explain IMAGE...`: the verdict, probability and advice exactly as the endpoint gives them,
and where the model looked, for photos on disk.

The model is a bundle folder (`--bundle`), a registered model (`--model models:/NAME@ALIAS`) or a
training run (`--run RUN_ID`); the last two are exported once into the cache
(``$MELANOMA_CACHE/bundles``) and reused. Every photo goes through the serving app's own code path
(`serving.service.LesionService.analyse(..., explain=True)`: decode, quality gate, classifier,
not-a-lesion check, advice, `explain.tflite`), so the answer is the endpoint's. For each photo a JSON
line goes to stdout (and to ``OUT/explain.jsonl``) and ``OUT/<name>.explain.png`` shows the overlay
with its colour bar and the verdict; two photos or more also get ``OUT/contact_sheet.png`` (the
first `SHEET_MAX`). A file
that is not an image gets an error line and the rest go on.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import re
import sys
from pathlib import Path

from melanoma_exp.commands.registry import default_tracking_uri, guarded
from melanoma_exp.commands.serve import default_bundle_dir, ensure_bundle
from melanoma_exp.explain.figures import Explained, contact_sheet, explain_figure
from melanoma_exp.export.registry import DEFAULT_MODEL_NAME, export_model, resolve_model
from melanoma_exp.paths import cache_dir, project_root

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".heic", ".heif")
SHEET_MAX = 60  # photos on the contact sheet (the first ones); every photo still gets its own PNG


def photos(paths: list[str]) -> list[Path]:
    """The photos named on the command line; a folder contributes its images (sorted, not recursive).

    Raises:
        SystemExit: a path does not exist, or a folder holds no image.
    """
    found: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_dir():
            inside = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
            if not inside:
                raise SystemExit(f"error: folder {path} holds no image ({', '.join(IMAGE_SUFFIXES)})")
            found.extend(inside)
        elif path.is_file():
            found.append(path)
        else:
            raise SystemExit(f"error: {path} does not exist")
    return found


def bundle_for(args: argparse.Namespace) -> Path:
    """The bundle to explain with: ``--bundle``, or ``--model``/``--run`` exported once into the cache,
    or (none given) the served bundle `make serve` uses, exported from the champion when missing."""
    uri = args.tracking_uri or default_tracking_uri()
    if args.bundle:
        bundle = Path(args.bundle).expanduser().resolve()
        if not (bundle / "model.json").is_file():
            raise SystemExit(f"error: {bundle} is not a model bundle (no model.json)")
        return bundle
    if args.model or args.run:
        return cached_export(args.model or args.run, uri)
    return ensure_bundle(default_bundle_dir(), DEFAULT_MODEL_NAME, uri)


def cached_export(ref: str, tracking_uri: str) -> Path:
    """Export ``ref`` (models:/NAME@ALIAS, models:/NAME/VERSION, runs:/ID/model or a run id) into
    ``$MELANOMA_CACHE/bundles/<resolved version>`` unless it is already there; the alias is resolved
    first, so a moved alias exports the new version."""
    resolved = resolve_model(ref, tracking_uri=tracking_uri)
    key = (f"{resolved.name}-v{resolved.version}" if resolved.name else f"run-{resolved.run_id}")
    bundle = cache_dir() / "bundles" / re.sub(r"[^A-Za-z0-9_.-]", "_", key)
    if (bundle / "model.json").is_file():
        return bundle
    print(f"exporting {resolved.model_uri} into {bundle} (once; takes a while) ...", file=sys.stderr, flush=True)
    partial = bundle.with_name(bundle.name + ".partial")
    export_model(resolved.model_uri, partial, tracking_uri=tracking_uri, log_to_run=False)
    partial.replace(bundle)  # a killed export leaves only the .partial folder, redone next time
    return bundle


def _overlay_pixels(answer: dict):
    import numpy as np
    from PIL import Image

    with Image.open(io.BytesIO(base64.b64decode(answer["explanation"]["overlay_png"]))) as png:
        return np.asarray(png.convert("RGB"))


def _printable(answer: dict) -> dict:
    """The answer without the base64 overlay (it is the PNG written beside it)."""
    explanation = {k: v for k, v in (answer.get("explanation") or {}).items() if k != "overlay_png"}
    return {**answer, "explanation": explanation}


def cmd_explain(args: argparse.Namespace) -> int:
    """Explain each photo; 0 when every one was answered, 1 when some were not images."""
    from tqdm import tqdm

    from serving.errors import ApiError
    from serving.model import BundleError
    from serving.service import LesionService
    from serving.settings import Settings

    images = photos(args.images)
    bundle = bundle_for(args)
    try:
        service = LesionService(Settings.from_env(bundle_dir=bundle, threads=args.threads,
                                                  model_variant=args.variant))
    except BundleError as exc:
        raise SystemExit(f"error: {exc}") from None
    out = Path(args.out).expanduser().resolve() if args.out else project_root() / "outputs" / "explain"
    out.mkdir(parents=True, exist_ok=True)
    spec = service.spec
    print(f"explaining {len(images)} photo(s) with {spec['name']} v{spec['version']} ({bundle}); "
          f"writing to {out}. Not medical advice.", file=sys.stderr, flush=True)
    explained: list[Explained] = []
    failed = 0
    with open(out / "explain.jsonl", "w", encoding="utf-8") as jsonl:
        for path in tqdm(images, desc="explain", unit="photo", file=sys.stderr, disable=len(images) < 2):
            line: dict = {"image": str(path)}
            try:
                answer = service.analyse(path.read_bytes(), explain=True)
            except (ApiError, OSError) as exc:
                failed += 1
                error = exc.body()["error"] if isinstance(exc, ApiError) else {"code": "unreadable",
                                                                                "message": str(exc)}
                line["error"] = error
                print(f"error: {path}: {error['message']}", file=sys.stderr, flush=True)
            else:
                line.update(_printable(answer))
                if answer["explanation"].get("available"):
                    item = Explained(path.name, _overlay_pixels(answer), answer)
                    line["overlay"] = str(explain_figure(item, out / f"{path.stem}.explain.png"))
                    explained.append(item)
            text = json.dumps(line)
            print(text, flush=True)
            jsonl.write(text + "\n")
    if len(explained) >= 2:
        sheet = contact_sheet(explained[:SHEET_MAX], out / "contact_sheet.png")
        shown = f"the first {SHEET_MAX} of {len(explained)}" if len(explained) > SHEET_MAX else len(explained)
        print(f"contact sheet ({shown} photos): {sheet}", file=sys.stderr)
    if not spec.get("explain"):
        print(f"note: {bundle} has no explain.tflite (exported before explanations, or a model that cannot be "
              "explained): verdicts only. Re-export it with `melanoma export MODEL --out DIR`.", file=sys.stderr)
    return 1 if failed else 0


def register(subparsers) -> None:
    """Add `melanoma explain`."""
    p = subparsers.add_parser(
        "explain", help="verdict, advice and where the model looked (Grad-CAM overlay) for photos on disk",
        description="The verdict, probability and advice exactly as the endpoint gives them, and where the "
        "model looked (a Grad-CAM overlay PNG per photo, a contact sheet for several). Not medical advice.")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="photo files or folders of photos")
    which = p.add_mutually_exclusive_group()
    which.add_argument("--bundle", default=None, help="a model bundle folder")
    which.add_argument("--model", default=None, help="a registered model: models:/NAME@ALIAS or models:/NAME/VERSION")
    which.add_argument("--run", default=None, help="a training run id (its logged model)")
    p.add_argument("--out", default=None, help="folder for the PNGs and explain.jsonl (default outputs/explain)")
    p.add_argument("--threads", type=int, default=None, help="LiteRT threads (default $MELANOMA_THREADS or 2)")
    p.add_argument("--variant", choices=["float", "int8"], default=None,
                   help="classifier to run (default $MELANOMA_MODEL_VARIANT or float)")
    p.add_argument("--tracking-uri", default=None,
                   help="MLflow tracking URI for --model/--run (default: $MLFLOW_TRACKING_URI or the project's store)")
    p.set_defaults(func=guarded(cmd_explain))
