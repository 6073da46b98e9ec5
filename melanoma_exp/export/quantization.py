"""Float vs int8 LiteRT on the held-out test split at the bundle's threshold: what running the app's
on-device model (`model_int8.tflite`) costs, measured at export and written into model.json."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from melanoma_exp.evaluation.model_checks import images_from_dataset

# More flipped test decisions than this, or any lost sensitivity, and the bundle recommends the float
# model on the device: at a sensitivity-first threshold small shifts in p flip decisions.
MAX_FLIPPED_SHARE = 0.01


def litert_probabilities(path: Path, images: np.ndarray, threads: int = 2) -> np.ndarray:
    """P(malignant) of a LiteRT model for ``images`` (N, H, W, 3) float32 0-255, one at a time
    (as serving and the app call it)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=threads)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    probabilities = np.empty(len(images), np.float64)
    for i, image in enumerate(images):
        interpreter.set_tensor(inp["index"], np.ascontiguousarray(image[np.newaxis], np.float32))
        interpreter.invoke()
        probabilities[i] = float(np.asarray(interpreter.get_tensor(out["index"])).ravel()[0])
    return probabilities


def _scores(labels: np.ndarray, p: np.ndarray, threshold: float) -> dict[str, float | None]:
    from melanoma_exp.evaluation.metrics import classification_metrics

    m = classification_metrics(labels, p, threshold)
    return {k: (None if isinstance(m[k], float) and math.isnan(m[k]) else m[k])
            for k in ("sensitivity", "specificity", "auc")}


def compare_float_and_int8(float_path: Path, int8_path: Path, images: np.ndarray, labels: np.ndarray,
                           threshold: float) -> dict[str, Any]:
    """model.json ``on_device``: both models scored on the same images at ``threshold``, how far their
    probabilities move, the share of decisions that flip, and which model the device should run."""
    p_float = litert_probabilities(float_path, images)
    p_int8 = litert_probabilities(int8_path, images)
    labels = np.asarray(labels).astype(int).ravel()
    flipped = int(np.sum((p_float >= threshold) != (p_int8 >= threshold)))
    share = flipped / max(len(labels), 1)
    float_scores, int8_scores = _scores(labels, p_float, threshold), _scores(labels, p_int8, threshold)
    lost = (int8_scores["sensitivity"] or 0.0) < (float_scores["sensitivity"] or 0.0)
    reasons = []
    if share > MAX_FLIPPED_SHARE:
        reasons.append(f"int8 flips {flipped} of {len(labels)} test decisions ({share:.1%} > "
                       f"{MAX_FLIPPED_SHARE:.0%})")
    if lost:
        reasons.append(f"int8 sensitivity {int8_scores['sensitivity']:.3f} < float "
                       f"{float_scores['sensitivity']:.3f}")
    return {
        "split": "test",
        "n": int(len(labels)),
        "threshold": float(threshold),
        "float": float_scores,
        "int8": int8_scores,
        "max_abs_delta_p": float(np.max(np.abs(p_float - p_int8))) if len(labels) else 0.0,
        "flipped_decisions": flipped,
        "flipped_share": share,
        "recommended_model": "float" if reasons else "int8",
        "reason": "; ".join(reasons) or (f"int8 flips {share:.1%} of test decisions (<= "
                                          f"{MAX_FLIPPED_SHARE:.0%}) and keeps the float sensitivity"),
    }


def held_out_test_split(data: dict[str, Any], limit: int = 2000) -> tuple[np.ndarray, np.ndarray] | None:
    """The prepared test split named in a run's report (`data.prepared_dir`), or None when that folder
    is not on this machine (an export elsewhere)."""
    prepared = (data or {}).get("prepared_dir")
    if not prepared or not (Path(prepared) / "manifest.json").is_file():
        return None
    from melanoma_exp.data.pipeline import make_dataset

    images, labels = images_from_dataset(make_dataset(prepared, "test", batch_size=64, training=False), limit)
    return (images, labels) if len(labels) else None
