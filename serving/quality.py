"""Image-quality gate: is the photo good enough to judge? (blur, exposure, resolution).

Thresholds come from the bundle's model.json ``quality_gate`` section, so the app and the phone use
the same numbers. Measures run on a grayscale copy at most ``analysis_max_side_px`` wide so that
the blur measure does not depend on the camera's megapixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

ISSUE_TEXT = {
    "low_resolution": "the photo's resolution is too low",
    "blurry": "the photo looks blurred or out of focus",
    "too_dark": "the photo is too dark",
    "too_bright": "the photo is over-exposed",
    "not_a_lesion": "this does not look like a photo of a skin lesion",
}


@dataclass(frozen=True)
class QualityReport:
    """Gate verdict plus the measured values (useful for tuning and debugging)."""

    ok: bool
    issues: list[str]
    laplacian_var: float
    mean_luma: float
    clipped_fraction: float


def laplacian_variance(gray: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian of a 2-D float array (low → blurred)."""
    if gray.shape[0] < 3 or gray.shape[1] < 3:
        return 0.0
    lap = (gray[:-2, 1:-1] + gray[2:, 1:-1] + gray[1:-1, :-2] + gray[1:-1, 2:] - 4.0 * gray[1:-1, 1:-1])
    return float(lap.var())


def analysis_gray(image: Image.Image, max_side: int) -> np.ndarray:
    """Grayscale float32 copy, downscaled (never upscaled) so its longest side is ``max_side``."""
    gray = image.convert("L")
    longest = max(gray.size)
    if longest > max_side:
        scale = max_side / longest
        size = (max(1, round(gray.size[0] * scale)), max(1, round(gray.size[1] * scale)))
        gray = gray.resize(size, Image.Resampling.BOX)
    return np.asarray(gray, dtype=np.float32)


def assess_quality(image: Image.Image, original_size: tuple[int, int], gate: dict) -> QualityReport:
    """Check an RGB image against the gate thresholds.

    Args:
        image: decoded RGB image (possibly DCT-scaled).
        original_size: ``(width, height)`` of the upload before any scaling.
        gate: model.json ``quality_gate`` (min_side_px, analysis_max_side_px, blur_min_laplacian_var,
            dark_max_mean, bright_min_mean, clipped_max_fraction).
    """
    gray = analysis_gray(image, int(gate["analysis_max_side_px"]))
    lap_var = laplacian_variance(gray)
    mean = float(gray.mean()) if gray.size else 0.0
    clipped = float((gray >= 250).mean()) if gray.size else 0.0
    issues = []
    if min(original_size) < int(gate["min_side_px"]):
        issues.append("low_resolution")
    if lap_var < float(gate["blur_min_laplacian_var"]):
        issues.append("blurry")
    if mean < float(gate["dark_max_mean"]):
        issues.append("too_dark")
    if mean > float(gate["bright_min_mean"]) or clipped > float(gate["clipped_max_fraction"]):
        issues.append("too_bright")
    return QualityReport(not issues, issues, lap_var, mean, clipped)
