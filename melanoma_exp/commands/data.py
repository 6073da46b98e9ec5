"""`melanoma data synth|download|validate|prepare`: the data sub-commands of the console script.

Heavy imports happen inside the command functions so `melanoma --help` stays instant.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from hydra.errors import ConfigCompositionException

from melanoma_exp.config import compose


def register(subparsers) -> None:
    """Add `data` and its sub-commands to the top-level parser."""
    data = subparsers.add_parser("data", help="synthesise, download, validate and prepare datasets",
                                 description="Raw data (isic-cli layout) and prepared datasets.")
    sub = data.add_subparsers(dest="data_command", metavar="COMMAND")
    data.set_defaults(func=lambda args: data.print_help() or 2)

    synth = sub.add_parser("synth", help="write a synthetic dataset in isic-cli's layout",
                           description="Synthetic dermoscopy-like images (ABCD rule) + metadata.csv.")
    synth.add_argument("--out", required=True, type=Path, help="output folder")
    synth.add_argument("--n", type=int, default=600, help="number of images (default 600)")
    synth.add_argument("--size", default="128",
                       help="square side in px (64) or WIDTHxHEIGHT (1024x768); default 128")
    synth.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    synth.add_argument("--malignant-fraction", type=float, default=0.45,
                       help="share of malignant among labelled images (default 0.45)")
    synth.add_argument("--shortcut", type=float, default=0.0,
                       help="probability of a marker sticker on malignant images (default 0)")
    synth.add_argument("--sticker-rate", type=float, default=0.04,
                       help="label-independent sticker chance at --shortcut 0 (default 0.04)")
    synth.add_argument("--sticker-scale", type=float, default=1.0,
                       help="sticker radius multiplier (default 1)")
    synth.add_argument("--masks", action="store_true", help="also write masks/<isic_id>.png (stickers)")
    synth.set_defaults(func=cmd_synth)

    download = sub.add_parser("download", help="download ISIC images with isic-cli and validate them",
                              description="Wraps `isic image download` (non-interactive), then "
                              "checks every metadata.csv row against the files on disk.")
    download.add_argument("--out", type=Path, default=Path("data/isic/raw"),
                          help="output folder (default data/isic/raw)")
    download.add_argument("--limit", type=int, default=None, help="at most N images (default: all)")
    from melanoma_exp.data.isic import DEFAULT_SEARCH

    download.add_argument("--search", default=DEFAULT_SEARCH,
                          help=f"ISIC search query (default: {DEFAULT_SEARCH!r}; '' = no filter)")
    download.add_argument("--collections", default=None, help="comma-separated ISIC collection ids")
    download.add_argument("--print-command", action="store_true",
                          help="print the isic-cli command line and exit")
    download.set_defaults(func=cmd_download)

    import_v1 = sub.add_parser(
        "import-v1", help="convert images saved with the ISIC archive's v1 JSON into isic-cli's layout",
        description="A folder of ISIC_xxxxxxx.jpg + ISIC_xxxxxxx.json (the archive's API v1 metadata) and "
        "the collection's ATTRIBUTION.txt -> isic-cli's layout: metadata.csv with diagnosis_1..3 from the "
        "archive's diagnosis hierarchy, attribution.txt, licenses/, re-encoded images (EXIF dropped). "
        "This is how samples/isic_uda1 was made.")
    import_v1.add_argument("src", type=Path, metavar="SRC", help="folder of v1 JSON + JPEG files")
    import_v1.add_argument("--out", required=True, type=Path, help="output folder (isic-cli layout)")
    import_v1.add_argument("--max-side", type=int, default=None,
                           help="downscale so the longer side is at most N px (default: keep the size)")
    import_v1.add_argument("--quality", type=int, default=90, help="JPEG quality (default 90)")
    import_v1.set_defaults(func=cmd_import_v1)

    validate = sub.add_parser(
        "validate", help="check a raw folder against its metadata.csv, or a prepared one against its checksums",
        description="A raw folder (isic-cli layout): every metadata.csv row has a present, decodable image. "
        "A prepared folder (holds manifest.json): re-hash metadata.csv, every raw image prepare read, "
        "index.csv and every shard, and name each file that changed or went missing since prepare.")
    validate.add_argument("folder", type=Path, metavar="DIR",
                          help="raw folder in isic-cli's layout, or a prepared folder (with manifest.json)")
    validate.add_argument("--raw-dir", type=Path, default=None,
                          help="prepared folder only: the raw folder, if it moved since prepare "
                          "(default: raw_dir in manifest.json)")
    validate.set_defaults(func=cmd_validate)

    prepare = sub.add_parser("prepare", help="clean, balance, split and shard a raw folder",
                             description="Compose the config (conf/, Hydra overrides such as "
                             "data=isic data.image_size=224) and write a prepared dataset.")
    prepare.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. data=isic data.balance=none")
    prepare.set_defaults(func=cmd_prepare)


def cmd_synth(args: argparse.Namespace) -> int:
    from melanoma_exp.data.synth import generate_synthetic

    out = generate_synthetic(args.out, n=args.n, size=args.size, seed=args.seed,
                             malignant_fraction=args.malignant_fraction, shortcut=args.shortcut,
                             sticker_rate=args.sticker_rate, sticker_scale=args.sticker_scale,
                             masks=args.masks, progress=True)
    print(f"wrote {args.n} synthetic images + metadata.csv to {out}")
    return 0


def cmd_import_v1(args: argparse.Namespace) -> int:
    from melanoma_exp.data.isic_v1 import V1FormatError, import_v1_folder

    try:
        out = import_v1_folder(args.src, args.out, max_side=args.max_side, quality=args.quality)
    except (V1FormatError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return _print_report(validate_raw(out), out)


def cmd_download(args: argparse.Namespace) -> int:
    from melanoma_exp.data import isic

    if args.print_command:
        print(shlex.join(isic.download_command(args.out, args.limit, args.search, args.collections)))
        return 0
    try:
        report = isic.download(args.out, args.limit, args.search, args.collections)
    except RuntimeError as exc:  # isic-cli failed and said why above: one line, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return _print_report(report, args.out)


def cmd_validate(args: argparse.Namespace) -> int:
    from melanoma_exp.data.prepare import MANIFEST, validate_prepared

    if (args.folder / MANIFEST).is_file():
        try:
            report = validate_prepared(args.folder, args.raw_dir, progress=True)
        except ValueError as exc:  # a manifest without checksums: one line, no traceback
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(report.summary())
        if report.bad:
            kinds = {kind for _, kind, _, _ in report.problems}
            hint = ("restore or re-download the raw files (`melanoma data download` fetches missing ones), "
                    if kinds & {"raw", "metadata"} else "")
            print(f"{report.bad} file(s) changed or missing since prepare: {hint}delete {args.folder} "
                  "and run `melanoma data prepare` again", file=sys.stderr)
            return 1
        return 0
    if args.raw_dir is not None:
        print(f"error: --raw-dir is for a prepared folder; {args.folder} has no {MANIFEST}", file=sys.stderr)
        return 2
    return _print_report(validate_raw(args.folder), args.folder)


def validate_raw(raw_dir: Path):
    from melanoma_exp.data.layout import validate_raw as check

    return check(raw_dir, progress=True)


def _print_report(report, raw_dir) -> int:
    print(report.summary())
    if report.bad:
        print(f"{report.bad} image(s) unusable in {raw_dir}: re-run the download to fetch missing "
              "ones; prepare excludes the rest and lists them in manifest.json", file=sys.stderr)
        return 1
    return 0


def cmd_prepare(args: argparse.Namespace) -> int:
    from melanoma_exp.data.prepare import prepare_dataset
    from melanoma_exp.data.summary import describe_prepared
    from melanoma_exp.data.synth import ensure_synthetic_raw

    try:
        cfg = compose(args.overrides)
        ensure_synthetic_raw(cfg.data)
        folder = prepare_dataset(cfg.data)
    except (ValueError, FileNotFoundError, ConfigCompositionException) as exc:  # a person's fix
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(describe_prepared(folder))
    return 0
