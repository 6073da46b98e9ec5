"""Where the model looks on real dermoscopy: Grad-CAM mass per image region.

Each photo is brought to the model input exactly as serving does (`serving.decode`), explained by the
bundle's ``explain.tflite`` (`serving.explain`), and cut into rough regions (lesion, dark corners, hair,
ink, other skin: `melanoma_exp.explain.dermoscopy_masks`). The mass share of a region is the share of the
upsampled heatmap's sum that lies in it; its lift is mass share / area share (1 = what an even map
gives). The masks are heuristics, not segmentations: the report counts the images whose lesion mask
came out empty or as (nearly) the whole frame.
Research tool, not medical advice.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from melanoma_exp.data.layout import find_image, image_path
from melanoma_exp.explain.dermoscopy_masks import REGIONS, region_masks

NOTE = "Research tool, not medical advice: the regions are rough image heuristics, not segmentations."
WHOLE_FRAME = 0.9  # a lesion mask over this share of the non-corner frame is "whole frame"
MIN_LIFT_AREA = 0.005  # lifts of regions smaller than this share of the frame are not averaged


def region_shares(heatmap: np.ndarray, masks: dict[str, np.ndarray]) -> dict[str, dict[str, float | None]]:
    """Per region: ``mass`` (share of the heatmap's sum inside it; None for an all-zero map), ``area``
    (share of the pixels) and ``lift`` = mass / area (None when either is undefined or the region is empty).

    ``heatmap`` is at the masks' size (`serving.explain.upsample` the grid first); negatives count as 0.
    """
    heat = np.clip(np.nan_to_num(np.asarray(heatmap, dtype=np.float64)), 0.0, None)
    shapes = {name: np.shape(mask) for name, mask in masks.items()}
    if any(shape != heat.shape for shape in shapes.values()):
        raise ValueError(f"heatmap shape {heat.shape} differs from the mask shapes {shapes}")
    total, pixels = float(heat.sum()), heat.size
    shares: dict[str, dict[str, float | None]] = {}
    for name, mask in masks.items():
        area = float(np.count_nonzero(mask)) / pixels
        mass = float(heat[mask].sum()) / total if total > 0 else None
        lift = mass / area if mass is not None and area > 0 else None
        shares[name] = {"mass": mass, "area": area, "lift": lift}
    return shares


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean mass and area share per region over images with a heatmap, the mean and median lift over
    images where the region covers at least `MIN_LIFT_AREA` of the frame, and how many images have it."""
    scored = [row for row in rows if row["regions"]["other_skin"]["mass"] is not None]
    summary: dict[str, Any] = {"images": len(rows), "images_with_heatmap": len(scored), "regions": {}}
    for name in REGIONS:
        mass = [row["regions"][name]["mass"] for row in scored]
        area = [row["regions"][name]["area"] for row in scored]
        lifts = [row["regions"][name]["lift"] for row in scored if row["regions"][name]["area"] >= MIN_LIFT_AREA]
        summary["regions"][name] = {
            "mean_mass_share": _mean(mass), "mean_area_share": _mean(area),
            "pooled_lift": _mean(mass) / _mean(area) if mass and _mean(area) else None,
            "mean_lift": _mean(lifts), "median_lift": float(np.median(lifts)) if lifts else None,
            "images_with_region": sum(1 for row in rows if row["regions"][name]["area"] > 0),
            "images_in_lift": len(lifts),
        }
    return summary


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def read_labels(raw_dir: Path) -> dict[str, str]:
    """``isic_id -> diagnosis_1`` lower-cased (benign, malignant, ...) from ``raw_dir/metadata.csv``."""
    path = Path(raw_dir) / "metadata.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: --data must be a raw folder in the isic-cli layout "
                                "(metadata.csv + <isic_id>.jpg), e.g. samples/isic_uda1")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = {"isic_id", "diagnosis_1"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path} lacks the column(s) {', '.join(sorted(missing))}")
        return {row["isic_id"]: (row["diagnosis_1"] or "unknown").strip().lower() for row in reader}


def read_split(split_index: Path, split: str) -> list[str]:
    """The ``isic_id`` of the rows of a prepared ``index.csv`` whose ``split`` is ``split``."""
    path = Path(split_index)
    if not path.is_file():
        raise FileNotFoundError(f"split index {path} not found (a prepared folder's index.csv)")
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if not {"isic_id", "split"} <= set(reader.fieldnames or ()):
            raise ValueError(f"{path} has no isic_id and split columns; is it a prepared index.csv?")
        rows = list(reader)
    ids = [row["isic_id"] for row in rows if row["split"] == split]
    if not ids:
        known = sorted({row["split"] for row in rows})
        raise ValueError(f"{path} has no rows in split {split!r}. Its splits: {', '.join(known)}")
    return ids


def region_report(bundle_dir, raw_dir, out_dir, ids=None, split_index=None, split: str = "test", *,
                  progress: bool = False, threads: int = 2) -> dict[str, Any]:
    """Grad-CAM mass per region over the images of ``raw_dir``; writes ``regions.json`` and
    ``regions_contact_sheet.png`` to ``out_dir`` and returns the report.

    Args:
        bundle_dir: a model bundle with ``explain.tflite`` (model.json ``explain``).
        raw_dir: an isic-cli folder (``metadata.csv``, ``<isic_id>.jpg``).
        out_dir: created if missing.
        ids: the images to score (default: every row of metadata.csv, or the split below).
        split_index: a prepared ``index.csv``; only its rows in ``split`` are scored (with ``ids``: both).
        split: which split of ``split_index``.
        progress: show a tqdm bar.
        threads: LiteRT interpreter threads.

    Raises:
        serving.model.BundleError: no bundle, or one without ``explain``.
        FileNotFoundError, ValueError: a missing metadata.csv / index.csv, an empty selection.
    """
    from serving.explain import upsample
    from serving.model import BundleError, load_model_json
    from serving.service import LesionService
    from serving.settings import Settings

    bundle_dir, raw_dir, out_dir = Path(bundle_dir), Path(raw_dir), Path(out_dir)
    if not load_model_json(bundle_dir).get("explain"):
        raise BundleError(f"{bundle_dir}/model.json has no explain entry: re-export the model "
                          "(`melanoma export ... --out DIR`) to get explain.tflite")
    service = LesionService(Settings.from_env(bundle_dir=bundle_dir, threads=threads))  # serving's own input path
    spec, shape, explainer = service.spec, service.input, service.explainer
    if explainer is None:
        raise BundleError(f"{bundle_dir}: {service.explain_reason}")
    labels = read_labels(raw_dir)
    chosen = list(labels) if ids is None else [str(i) for i in ids]
    if split_index is not None:
        in_split = set(read_split(Path(split_index), split))
        chosen = [i for i in chosen if i in in_split]
    if not chosen:
        raise ValueError(f"no images selected from {raw_dir} (ids={ids!r}, split_index={split_index}, split={split!r})")
    rows, skipped, cases = [], [], []
    iterator = chosen
    if progress:
        from tqdm import tqdm

        iterator = tqdm(chosen, desc="regions", unit="img")
    for isic_id in iterator:
        try:
            image = _model_input(service, find_image(raw_dir, isic_id) or image_path(raw_dir, isic_id))
        except (OSError, ValueError) as exc:
            skipped.append({"isic_id": isic_id, "reason": str(exc)})
            continue
        probability, grid = explainer.explain(image)
        masks = region_masks(image)
        shares = region_shares(upsample(grid, shape.height, shape.width), masks)
        rows.append({"isic_id": isic_id, "label": labels.get(isic_id, "unknown"), "probability": probability,
                     "lesion_mask": _lesion_quality(masks), "regions": shares})
        cases.append((image, grid, masks))
    report = _assemble(rows, skipped, bundle_dir, raw_dir, spec, split_index, split, len(chosen))
    out_dir.mkdir(parents=True, exist_ok=True)
    if rows:
        save_contact_sheet(rows, cases, out_dir / "regions_contact_sheet.png", alpha=explainer.alpha)
        report["contact_sheet"] = "regions_contact_sheet.png"
    (out_dir / "regions.json").write_text(json.dumps(report, indent=2), encoding="utf-8")
    return report


def _model_input(service, path: Path) -> np.ndarray:
    """The pixels serving feeds the model for this file (`LesionService.model_input`); OSError/ValueError
    name the file."""
    from serving.errors import ApiError

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise OSError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    try:
        return service.model_input(data)
    except ApiError as exc:
        raise ValueError(f"{path}: {exc}") from exc


def _lesion_quality(masks: dict[str, np.ndarray]) -> str:
    lesion, frame = masks["lesion"], ~masks["dark_corners"]
    if not lesion.any():
        return "empty"
    return "whole_frame" if lesion.sum() >= WHOLE_FRAME * max(1, frame.sum()) else "ok"


def _assemble(rows, skipped, bundle_dir, raw_dir, spec, split_index, split, requested) -> dict[str, Any]:
    classes = sorted({row["label"] for row in rows})
    quality = [row["lesion_mask"] for row in rows]
    return {
        "note": NOTE,
        "bundle": str(bundle_dir), "model": {"name": spec.get("name"), "version": spec.get("version")},
        "data": str(raw_dir),
        "split": {"index": str(split_index), "name": split} if split_index is not None else None,
        "input_size": [int(spec["input"]["height"]), int(spec["input"]["width"])],
        "regions": list(REGIONS),
        "images": {"requested": requested, "scored": len(rows), "skipped": len(skipped),
                   "no_heatmap": sum(1 for row in rows if row["regions"]["other_skin"]["mass"] is None)},
        "lesion_mask": {state: quality.count(state) for state in ("ok", "empty", "whole_frame")},
        "summary": {"overall": summarise(rows), **{c: summarise([r for r in rows if r["label"] == c]) for c in classes}},
        "skipped": skipped,
        "per_image": rows,
    }


OUTLINES = (("lesion", "white"), ("dark_corners", "yellow"), ("hair", "cyan"), ("ink", "magenta"))


def save_contact_sheet(rows: list[dict[str, Any]], cases: list[tuple], path: Path, *, alpha: float = 0.4,
                       per_end: int = 4) -> Path:
    """The ``per_end`` images with the highest and the lowest lesion mass share: heatmap overlay
    (`serving.explain.overlay`), region outlines, true label, P(malignant), lesion share and lift."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    from serving.explain import overlay

    scored = [i for i, row in enumerate(rows) if row["regions"]["lesion"]["mass"] is not None]
    order = sorted(scored, key=lambda i: -rows[i]["regions"]["lesion"]["mass"])
    top = order[:per_end]
    bottom = [i for i in order[::-1][:per_end] if i not in top][::-1]
    picks = [("highest lesion share", top), ("lowest lesion share", bottom)]
    cols = max(1, max(len(p) for _, p in picks))
    fig, axes = plt.subplots(2, cols, figsize=(2.3 * cols, 5.4), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for r, (title, picked) in enumerate(picks):
        for c, i in enumerate(picked):
            image, grid, masks = cases[i]
            ax, lesion = axes[r][c], rows[i]["regions"]["lesion"]
            ax.imshow(overlay(image, grid, alpha))
            for name, colour in OUTLINES:
                if masks[name].any():
                    ax.contour(masks[name], levels=[0.5], colors=colour, linewidths=0.8)
            lift = "-" if lesion["lift"] is None else f"{lesion['lift']:.2f}"
            ax.set_title(f"{rows[i]['isic_id']} {rows[i]['label']}\np={rows[i]['probability']:.2f} "
                         f"lesion {lesion['mass']:.2f} (x{lift})", fontsize=7)
        axes[r][0].text(-0.08, 0.5, title, transform=axes[r][0].transAxes, rotation=90, va="center",
                        ha="right", fontsize=8)
    fig.text(0.01, 0.01, "Grad-CAM mass per region. Outlines: lesion white, dark corners yellow, hair cyan, "
             "ink magenta (rough heuristics). Research tool, not medical advice.", fontsize=6.5, color="dimgray")
    fig.tight_layout(rect=(0.02, 0.04, 1, 1))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    # a 256-colour palette keeps the sheet small enough to live in the docs (~1/3 of the RGB size)
    Image.open(buffer).convert("RGB").quantize(256).save(path, optimize=True)
    return path


def format_table(report: dict[str, Any]) -> str:
    """A short text table: per group, mean mass share / mean area share / pooled lift per region."""
    lines = [f"{'group':<10} {'images':>6}  " + "  ".join(f"{name:>18}" for name in REGIONS),
             f"{'':<10} {'':>6}  " + "  ".join(f"{'mass/area  lift':>18}" for _ in REGIONS)]
    for group, summary in report["summary"].items():
        cells = []
        for name in REGIONS:
            region = summary["regions"][name]
            if region["mean_mass_share"] is None:
                cells.append(f"{'-':>18}")
                continue
            lift = "-" if region["pooled_lift"] is None else f"{region['pooled_lift']:.2f}"
            cells.append(f"{region['mean_mass_share']:.3f}/{region['mean_area_share']:.3f} {lift:>5}")
        lines.append(f"{group:<10} {summary['images']:>6}  " + "  ".join(f"{c:>18}" for c in cells))
    images, masks = report["images"], report["lesion_mask"]
    lines.append(f"scored {images['scored']} of {images['requested']} (skipped {images['skipped']}, "
                 f"no heatmap {images['no_heatmap']}); lesion mask ok {masks['ok']}, empty {masks['empty']}, "
                 f"whole frame {masks['whole_frame']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m melanoma_exp.explain.regions", description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", required=True, type=Path, help="bundle folder with explain.tflite")
    parser.add_argument("--data", required=True, type=Path, help="isic-cli raw folder (metadata.csv + images)")
    parser.add_argument("--out", required=True, type=Path, help="where regions.json and the contact sheet go")
    parser.add_argument("--split-index", type=Path, help="a prepared index.csv: score one of its splits only")
    parser.add_argument("--split", default="test", help="which split of --split-index (default: test)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args(argv)
    report = region_report(args.bundle, args.data, args.out, split_index=args.split_index, split=args.split,
                           progress=True, threads=args.threads)
    print(format_table(report))
    print(f"wrote {args.out / 'regions.json'}" + (f" and {args.out / report['contact_sheet']}" if "contact_sheet" in report else ""))
    print(NOTE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
