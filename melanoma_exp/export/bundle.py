"""Write the model bundle (contract 4) from a Keras model.

The bundle is everything a consumer needs and nothing implicit: the Keras reference model, a float32
and a dynamic-range quantized LiteRT model, the Grad-CAM model `explain.tflite`, `model.json` (input spec, labels, threshold,
recommendation bands, quality-gate thresholds, metrics, intended use, limitations, disclaimer) and a
human-readable `MODEL_CARD.md`. The serving app and the Android app read only these files.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from melanoma_exp import DISCLAIMER
from melanoma_exp.evaluation.tta import tta_model
from melanoma_exp.export.clinical_summary import bundle_summary, write_ood_model
from melanoma_exp.export.explain_model import write_explain_model
from melanoma_exp.export.litert import convert_to_litert
from melanoma_exp.export.model_card import render_model_card
from melanoma_exp.export.quantization import compare_float_and_int8, held_out_test_split

SCHEMA_VERSION = 1
LABELS = ["benign", "malignant"]
FILES = {"keras": "model.keras", "tflite": "model.tflite", "tflite_int8": "model_int8.tflite"}

# Thesis Table 5.1's advice, tied to the bundle's decision threshold (docs/serving.md compares the two).
# Wording leans toward sensitivity and never calls a lesion "safe".
DEFAULT_BANDS: dict[str, Any] = {
    # One rule for any decision threshold t (serving/recommend.py, the app's Advisor): p(malignant) >= t
    # is the malignant verdict; a benign verdict gets the first band with p <= max_threshold_fraction
    # * t. The fractions 0.2 / 0.4 / 0.8 are thesis Table 5.1 at its threshold 0.5 (benign >= 90 / 80
    # / 60 %); tied to t, every band stays reachable and the advice never gets milder as p rises.
    "rule": "threshold_fraction",
    "benign": [
        {
            "max_threshold_fraction": 0.2,
            "level": "likely_benign",
            "severity": 0,
            "text": "Likely benign. No action is needed now; keep an eye on it and see a doctor "
            "if it changes, itches or bleeds.",
        },
        {
            "max_threshold_fraction": 0.4,
            "level": "monitor",
            "severity": 1,
            "text": "Probably benign, but the model is less certain. Monitor the mole and retake "
            "the photo in a few weeks, or sooner if it changes.",
        },
        {
            "max_threshold_fraction": 0.8,
            "level": "see_dermatologist",
            "severity": 2,
            "text": "Uncertain result. Please have the mole checked by a dermatologist.",
        },
        {
            "max_threshold_fraction": 1.0,
            "level": "immediate_examination",
            "severity": 3,
            "text": "Very uncertain result, close to the model's malignant threshold. Please get the "
            "mole examined by a doctor or dermatologist as soon as possible.",
        },
    ],
    "malignant": {
        "level": "seek_care",
        "severity": 3,
        "text": "The model flags this mole as possibly malignant. Retake the photo in good light; "
        "if the result is still malignant, see a doctor or dermatologist promptly.",
    },
    "retake": {
        "level": "retake_photo",
        "text": "The photo is not good enough for a reliable result. Retake it in daylight, in "
        "focus, with the mole filling the centre of the frame.",
    },
}

# Image-quality gate thresholds, tuned on the synthetic set (1024x768) plus blurred, darkened and
# brightened copies (tests/serving/test_quality.py); serving and the app read them from model.json.
# The darkness floor sits below the darkest skin tone (Fitzpatrick VI) in that set, so dark skin is
# not mistaken for an under-exposed photo.
# Exposure relative to the scene (serving/quality.py; docs/evaluation.md, "The photo-quality gate on
# real photographs"): too dark also when the median of each pixel's brightest channel is below
# `dark_max_midtone` and its 99th percentile below `dark_max_highlight` (a dim scene with nothing
# near white); over-exposed also when more than `white_clipped_max_fraction` of the pixels are
# clipped in all three channels. Set on the generator's skin tones (the dimmest Fitzpatrick VI
# lesions have a midtone of 62-63, fair-skin lesions clip up to 9 % white) and on the real photos
# of scikit-learn, matplotlib, PyWavelets and mahotas; scikit-image's photos are the held-out check.
# Exposure read with the scene's colour (the same docs): a dim scene whose median pixel is neutral
# (darkest channel >= `neutral_min_ratio` of its brightest: paler than dark skin, real (0.60) or
# generated (0.53)) is too dark up to the midtone `dark_max_midtone_neutral`; more than
# `colour_clipped_max_fraction` of the pixels clipped in a saturated colour (brightest channel
# clipped, darkest below half of it) is over-exposed: sharp real photos have <= 1.4 %, generated skin
# none, a generated yellow marker sticker clipped by bright lighting up to its whole area (<= 3.5 %).
# Blur on real dermoscopy (docs/evaluation.md, "Blur on real dermoscopy"): sharp skin is smooth and low
# in contrast, so its Laplacian variance can fall below `blur_min_laplacian_var` (26 of the 418
# in-repo ISIC UDA-1 images at 512 px, 12 of their <= 1024 px originals). Below it a photo is
# `blurry` only when the edges it has are wide too: edge sharpness (Laplacian energy over gradient
# energy on pixels changing >= 10 levels across two pixels; contrast cancels) below
# `blur_min_edge_sharpness`. 0.16 ~ a step edge blurred by a Gaussian of sigma 0.9 px on the analysis
# copy. Measured (2026-12-07): sharp dermoscopy under the variance limit >= 0.21 (512 px sample,
# originals; 224 px copies >= 0.28), 1.3x above; blurred copies (sigma 0.5 % / 1 % of the long side,
# dermoscopy and the real photos) <= 0.054, the generator's lesions with GaussianBlur(3) at 1024 px
# <= 0.128 (1.25x below). Older bundles lack the key and keep the variance rule alone.
# `upload_max_side_px`: the long side clients (the app, the browser page) downscale a photo to before
# uploading it (never upscaled). 1024 is what the model and this gate need, with room to spare: the
# gate measures blur on a copy at most `analysis_max_side_px` = 512 px long (so every analysis pixel
# still averages about 2x2 uploaded pixels, as the server's DCT draft of a full-size photo gives it),
# the short side of a 4:3 photo stays at 768 px, far above `min_side_px` and the model input (<= 300
# px after the centre crop). A 1024x768 JPEG at quality 90 is 0.1-0.5 MB, far under the ~4.5 MB a
# base64 body may have on the Lambda path (6 MB payload limit), where a 12-50 MP original is 4-25 MB.
# Serving and the app refuse a value below the gate's and the model's own sizes.
DEFAULT_QUALITY_GATE: dict[str, float] = {
    "min_side_px": 224,
    "analysis_max_side_px": 512,
    "blur_min_laplacian_var": 15.0,
    "blur_min_edge_sharpness": 0.16,
    "dark_max_mean": 40.0,
    "bright_min_mean": 220.0,
    "clipped_max_fraction": 0.35,
    "dark_max_midtone": 60,
    "dark_max_highlight": 138,
    "white_clipped_max_fraction": 0.12,
    "dark_max_midtone_neutral": 90,
    "neutral_min_ratio": 0.67,
    "colour_clipped_max_fraction": 0.05,
    "upload_max_side_px": 1024,
}

INTENDED_USE = (
    "Research and education: a second look at a single skin lesion photographed close up. "
    "Not for diagnosis, triage or screening decisions; not a medical device."
)

LIMITATIONS = [
    "Trained mainly on dermoscopy images from the ISIC archive; phone photos differ in light, "
    "focus, scale and framing, so accuracy on phone photos is lower and not measured here.",
    "ISIC images come mostly from fair-skinned patients; performance on darker skin tones is "
    "unknown and likely worse.",
    "Only two classes (benign vs malignant); other skin conditions are not recognised.",
    "A benign result does not rule out melanoma: the model misses some melanomas.",
    "Not medical advice; not a medical device.",
]


def export_bundle(model: Any, out_dir: str | os.PathLike, *, meta: dict[str, Any],
                  tta: Sequence[str] | None = None, ood: dict[str, Any] | None = None,
                  progress: bool = True) -> Path:
    """Write contract 4 for ``model`` into ``out_dir``.

    Args:
        model: a Keras model taking float32 RGB 0-255 ``(B, H, W, 3)`` and returning the malignant
            probability ``(B, 1)`` (normalisation is a layer inside the model).
        out_dir: bundle folder; created if needed, files in it are overwritten.
        meta: facts about the model: ``name``, ``version``, ``source_run_id``, ``architecture``,
            ``threshold``, ``test``/``baseline`` metric dicts, ``data`` summary, optional
            ``bands``, ``quality_gate``, ``resize_method`` overrides.
        tta: test-time augmentation transforms (`melanoma_exp.evaluation.tta.TRANSFORMS`) to bake
            into the exported models: they then return the mean over those views of each image,
            same input and output, so serving and the app need no change. None: plain model.
        ood: the not-a-lesion detector to ship as ``ood.tflite`` + model.json ``ood``:
            ``{"detector": <LesionGate or MahalanobisOOD .to_dict()>, "layer_name": <feature layer of a
            mahalanobis detector>}``; None: none.
        progress: show a progress bar (a B3 conversion takes about a minute on 2 cores).

    ``meta["robustness_comparison"]`` (a `robustness_compare.card_summary`), when present, goes into
    model.json and the card. Every analysis arrives here as plain data: model.json and MODEL_CARD.md
    are written exactly once, last, so a folder without model.json is incomplete.

    Returns:
        The bundle folder.
    """
    from tqdm import tqdm


    out = Path(out_dir).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    height, width = input_size(model)
    spec = build_model_json(meta, height=height, width=width)  # validate meta before the slow part
    plain = model
    if tta:
        model = tta_model(model, tta)  # checks the names and that rotations get a square input
        spec["tta"] = tta_entry(tta)
    with tqdm(total=6 + bool(ood), desc=f"export {out.name}", unit="step", disable=not progress) as bar:
        save_inference_model(model, out / FILES["keras"])
        bar.update()
        (out / FILES["tflite"]).write_bytes(convert_to_litert(model, quantize=False))
        bar.update()
        (out / FILES["tflite_int8"]).write_bytes(convert_to_litert(model, quantize=True))
        bar.update()
        spec["on_device"] = _on_device_entry(out, spec, meta.get("data"))
        bar.update()
        spec["explain"] = _explain_entry(out, plain, meta.get("architecture"), tta=bool(tta))
        bar.update()
        if ood:
            spec["ood"] = write_ood_model(out, plain, ood["detector"], ood.get("layer_name", "backbone"))
            bar.update()
        if meta.get("robustness_comparison"):
            spec["robustness_comparison"] = meta["robustness_comparison"]
        write_model_json(out, spec, card=True)
        bar.update()
    return out


def _explain_entry(out: Path, model: Any, architecture: str | None, *, tta: bool) -> dict[str, Any] | None:
    """model.json ``explain`` (``explain.tflite``), or None, said on stderr, for a model without a
    spatial layer to explain (an averaged ensemble)."""
    import sys

    try:
        return write_explain_model(out, model, architecture, tta=tta)
    except ValueError as exc:
        print(f"WARNING: {out.name} ships no explain.tflite: {exc}", file=sys.stderr, flush=True)
        return None


def bundle_files(bundle: Path) -> str:
    """The files a bundle folder holds, for the line that says where it was written."""
    return ", ".join(sorted(path.name for path in Path(bundle).iterdir() if path.is_file()))


def save_inference_model(model: Any, path: Path) -> None:
    """Save ``model`` as ``.keras`` without optimizer state or training settings.

    A compiled model's ``.keras`` carries its optimizer's slots (Adam: two per weight, so about three
    times the weights); a bundle only predicts. The model is round-tripped through a temporary file
    loaded with ``compile=False`` when it is compiled.
    """
    import tempfile

    import keras

    if getattr(model, "optimizer", None) is None:
        model.save(path)
        return
    with tempfile.TemporaryDirectory(prefix="export-") as tmp:
        model.save(Path(tmp) / "compiled.keras")
        keras.saving.load_model(Path(tmp) / "compiled.keras", compile=False).save(path)


def _on_device_entry(out: Path, spec: dict[str, Any], data: dict[str, Any] | None) -> dict[str, Any]:
    """model.json ``on_device``: float vs int8 LiteRT on the run's test split; says so loudly when the
    app should not run the int8 model."""
    import sys


    split = held_out_test_split(data or {})
    if split is None:
        return {"measured": False, "recommended_model": "float",
                "reason": "the run's prepared test split is not on this machine: int8 not measured, "
                          "so the float model is recommended on the device"}
    entry = {"measured": True, **compare_float_and_int8(out / FILES["tflite"], out / FILES["tflite_int8"],
                                                        *split, float(spec["decision_threshold"]))}
    if entry["recommended_model"] == "float":
        print(f"WARNING: {entry['reason']}: the bundle recommends the float model on the device "
              "(model.json on_device)", file=sys.stderr, flush=True)
    return entry


def write_model_json(bundle_dir: str | os.PathLike, spec: dict[str, Any], *, card: bool = False) -> None:
    """Write a bundle's model.json atomically (a reader never sees half a file); with ``card``,
    MODEL_CARD.md from the same spec first. `export_bundle` is its only caller."""

    bundle = Path(bundle_dir)
    if card:
        (bundle / "MODEL_CARD.md").write_text(render_model_card(spec), encoding="utf-8")
    tmp = bundle / "model.json.tmp"
    tmp.write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
    tmp.replace(bundle / "model.json")


def tta_entry(transforms: Sequence[str]) -> dict[str, Any]:
    """model.json ``tta``: the views the exported models average inside (informational)."""
    return {
        "in_model": True,
        "transforms": list(transforms),
        "model_calls": len(transforms),
        "note": "model.tflite / model_int8.tflite already average these views: do not add TTA on top "
        "(MELANOMA_TTA). The decision threshold was chosen on validation without TTA.",
    }


def input_size(model: Any) -> tuple[int, int]:
    """Return ``(height, width)`` of a model's fixed RGB input, with a clear error otherwise."""
    shape = tuple(model.input_shape)
    if len(shape) != 4 or shape[-1] != 3 or shape[1] is None or shape[2] is None:
        raise ValueError(
            f"export needs a model with a fixed RGB input (None, H, W, 3); got input_shape={shape}"
        )
    return int(shape[1]), int(shape[2])


def _checked_bands(bands: dict[str, Any]) -> dict[str, Any]:
    """The bands, checked with the rule serving and the app apply (reachable, monotone bands)."""
    from serving.recommend import check_bands

    check_bands(bands)
    return bands

def build_model_json(meta: dict[str, Any], *, height: int, width: int) -> dict[str, Any]:
    """Assemble the model.json dict (contract 4) from ``meta`` and the model's input size."""
    threshold = float(meta.get("threshold", 0.5))
    if not 0.0 < threshold < 1.0:
        raise ValueError(f"meta['threshold'] must be in (0, 1), got {threshold}")
    return {
        "schema_version": SCHEMA_VERSION,
        "name": str(meta.get("name", "melanoma-classifier")),
        "version": str(meta.get("version", "0")),
        "source_run_id": meta.get("source_run_id"),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "architecture": meta.get("architecture"),
        "labels": list(LABELS),
        "output": {
            "type": "sigmoid",
            "shape": [1, 1],
            "meaning": "probability that the lesion is malignant (label index 1)",
        },
        "input": {
            "height": height,
            "width": width,
            "channels": 3,
            "color": "RGB",
            "dtype": "float32",
            "layout": "NHWC",
            "value_range": [0.0, 255.0],
            # Same policy as the data pipeline (melanoma_exp.data.imageops): centre square crop,
            # then Pillow's bilinear resize, which antialiases when shrinking.
            "resize_method": meta.get("resize_method", "bilinear"),
            "resize_antialias": True,
            "resize_aspect": meta.get("resize_aspect", "center_crop"),
            "exif_orientation": "apply before resizing",
            "normalization": "inside the model; feed plain RGB 0-255",
        },
        "files": dict(FILES),
        "decision_threshold": threshold,
        "recommendation_bands": _checked_bands(meta.get("bands") or DEFAULT_BANDS),
        "quality_gate": {**DEFAULT_QUALITY_GATE, **(meta.get("quality_gate") or {})},
        "metrics": {"test": _metrics(meta.get("test")), "baseline": _metrics(meta.get("baseline"))},
        "training_data": shipped_training_data(meta.get("data") or {}),
        "intended_use": INTENDED_USE,
        "limitations": list(LIMITATIONS),
        "disclaimer": DISCLAIMER,
        # How the threshold was chosen, calibration, flagged subgroups (docs/evaluation.md).
        "clinical": bundle_summary(meta.get("clinical")),
        "tta": None,  # `melanoma export --tta`: tta_entry (the models average flipped/rotated views)
        "explain": None,  # explain.tflite: explain_model.write_explain_model (Grad-CAM without TensorFlow)
    }


def shipped_training_data(data: dict[str, Any]) -> dict[str, Any]:
    """The report's data summary as a bundle ships it: no path of the machine that built it (the
    prepared folder is named by its folder name alone)."""
    shipped = {k: v for k, v in data.items() if k not in ("prepared_dir", "raw_dir")}
    if data.get("prepared_dir"):
        shipped["prepared_folder"] = Path(str(data["prepared_dir"])).name
    return shipped


def _metrics(metrics: dict[str, Any] | None) -> dict[str, Any]:
    """Copy a metrics dict, turning numpy scalars into plain numbers so JSON can hold them."""
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in (metrics or {}).items()}


def meta_from_report(report: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """Build export ``meta`` from a training run's ``report.json`` plus registry facts.

    Args:
        report: the trainer's report (``model``, ``data``, ``threshold``, ``test``, ``baseline``).
        **extra: ``name``, ``version``, ``source_run_id`` and any override of the result.
    """
    model_info = report.get("model") or {}
    meta = {
        "architecture": model_info.get("name"),
        "weights": model_info.get("weights"),
        "threshold": report.get("threshold", 0.5),
        "test": report.get("test") or {},
        "baseline": report.get("baseline") or {},
        "data": report.get("data") or {},
        "monitor": report.get("monitor") or {},
        "clinical": report.get("clinical"),
    }
    meta.update({k: v for k, v in extra.items() if v is not None})
    return meta
