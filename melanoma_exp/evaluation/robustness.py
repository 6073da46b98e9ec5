"""Phone-photo robustness report: how far the malignant probability swings, and how often the
verdict flips, over the fixed degraded copies of each test image (`data.capture`).

The thesis's central finding: the same mole photographed with different zoom, focus and light moved
the prediction by more than 23 percentage points.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from tqdm.auto import tqdm

from melanoma_exp.data.capture import DEGRADATIONS, degraded_copies


def _predict_probs(predict, batch: np.ndarray) -> np.ndarray:
    return np.asarray(predict(batch), dtype=float).reshape(len(batch), -1)[:, -1]


def robustness_report(
    predict: Callable[[np.ndarray], np.ndarray],
    images: np.ndarray,
    threshold: float = 0.5,
    *,
    seed: int = 0,
    names=None,
    progress: bool = True,
    chunk: int = 16,
) -> dict:
    """How much the malignant probability moves across degraded copies of each image.

    Args:
        predict: ``predict(images (N, H, W, 3) float32 0–255) -> malignant probabilities (N,)`` or
            (N, 1) — e.g. ``lambda x: model.predict(x, verbose=0)``.
        images: test images (N, H, W, 3) in 0–255.
        threshold: the decision threshold (malignant when p >= threshold) for verdict flips.
        seed: seeds the degradations (same seed, same copies).
        names: subset of DEGRADATIONS (default: all).
        progress: show a progress bar.
        chunk: images whose copies go into one ``predict`` call.

    Returns:
        ``swing_pp`` (median / p95 / mean / max over images of max−min probability across the
        original and its copies, in percentage points), ``flip_rate`` (fraction of images whose
        verdict changes on at least one copy), ``per_degradation`` (mean |shift| in pp and flip rate
        per degradation), ``per_image_swing_pp`` and the settings.
    """
    names = list(names or DEGRADATIONS)
    images = np.asarray(images, dtype=np.float32)
    k = len(names) + 1
    probs = np.zeros((len(images), k))
    # Several images' copies per predict call: per-call overhead dominates small models.
    chunks = range(0, len(images), chunk)
    for start in tqdm(chunks, desc="robustness", disable=not progress, leave=False):
        batch = np.concatenate([
            np.concatenate([image[None], degraded_copies(image, seed + start + j, names)])
            for j, image in enumerate(images[start : start + chunk])
        ])
        probs[start : start + chunk] = _predict_probs(predict, batch).reshape(-1, k)
    swings = probs.max(axis=1) - probs.min(axis=1)
    verdicts = probs >= threshold
    flips = verdicts[:, 1:] != verdicts[:, :1]
    shifts = np.abs(probs[:, 1:] - probs[:, :1])
    swing_pp = 100 * swings
    return {
        "n_images": int(len(images)),
        "threshold": float(threshold),
        "seed": seed,
        "degradations": names,
        "swing_pp": {
            "median": float(np.median(swing_pp)),
            "p95": float(np.percentile(swing_pp, 95)),
            "mean": float(swing_pp.mean()),
            "max": float(swing_pp.max()),
        },
        "flip_rate": float(flips.any(axis=1).mean()),
        "per_degradation": {
            name: {"mean_abs_shift_pp": float(100 * shifts[:, i].mean()), "flip_rate": float(flips[:, i].mean())}
            for i, name in enumerate(names)
        },
        "per_image_swing_pp": swing_pp.round(3).tolist(),
    }


def plot_robustness(report: dict, path) -> object:
    """Histogram of per-image swing and mean shift per degradation; returns the PNG path."""
    from pathlib import Path

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.5))
    a.hist(report["per_image_swing_pp"], bins=20, color="tab:blue")
    a.axvline(report["swing_pp"]["median"], color="k", ls="--", label="median")
    a.axvline(report["swing_pp"]["p95"], color="tab:red", ls="--", label="95th pct")
    a.set_xlabel("swing of malignant probability (pp)")
    a.set_ylabel("images")
    a.legend(fontsize=8)
    names = list(report["per_degradation"])
    b.barh(names, [report["per_degradation"][n]["mean_abs_shift_pp"] for n in names], color="tab:orange")
    b.set_xlabel("mean |shift| (pp)")
    fig.suptitle(f"Phone-photo robustness: verdict flips on {100 * report['flip_rate']:.1f}% of images")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path
