"""Image-quality gate: is the photo good enough to judge? (blur, exposure, resolution).

Thresholds come from the bundle's model.json ``quality_gate`` section, so the app and the phone use
the same numbers. Measures run on a copy at most ``analysis_max_side_px`` wide so that they do not
depend on the camera's megapixels: blur and the mean on its grayscale (luma), exposure also on each
pixel's brightest and darkest channel.

Exposure is judged on the scene, not only on its mean: a photo is too dark when its mean luma is
below ``dark_max_mean``, or when its typical pixel is dark (median brightest channel below
``dark_max_midtone``) *and* nothing in it comes near white (99th percentile of the brightest channel
below ``dark_max_highlight``); over-exposed when its mean is above ``bright_min_mean``, more than
``clipped_max_fraction`` of its luma is clipped, or more than ``white_clipped_max_fraction`` of its
pixels are clipped white in all three channels. The brightest channel keeps dark skin, whose red
channel is far above its luma, from looking under-exposed; white clipping in all channels keeps
fair skin, whose red channel saturates first, from looking over-exposed.

Exposure also reads the scene's colour: scaling exposure keeps each pixel's ratio of darkest to
brightest channel, while melanin makes skin both darker and more saturated. A dim scene (highlight
below ``dark_max_highlight``) whose typical pixel is neutral (median ratio at least
``neutral_min_ratio``, paler than any dark skin) is too dark up to the higher midtone
``dark_max_midtone_neutral``; over-exposed also when more than ``colour_clipped_max_fraction`` of the
pixels have their brightest channel clipped while their darkest is below half of it (a saturated
colour pushed past white; fair skin is not that saturated, dark skin not that bright). Bundles
exported before these keys existed lack them and keep the rule they had (docs/serving.md).

Blur is judged on the luma's Laplacian. A low variance (below ``blur_min_laplacian_var``) has two
causes: the photo is blurred, or its subject is smooth and low in contrast — sharp dermoscopy of
skin is both. Such a photo gets a second look at the edges it has (pixels whose luma changes by at
least ``EDGE_MIN_GRADIENT`` levels across two pixels): their *edge sharpness*, the Laplacian's energy
over the gradient's, does not depend on contrast and falls with the edge's width (a step edge
blurred by a Gaussian of sigma 0.5 / 0.75 / 1 / 1.5 px measures 0.70 / 0.28 / 0.12 / 0.05). The
photo is ``blurry`` only when that is below ``blur_min_edge_sharpness`` too, or when fewer than
``EDGE_MIN_FRACTION`` of its pixels are edges (nothing sharp left to judge). Bundles without
``blur_min_edge_sharpness`` keep the variance rule alone.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from PIL import Image

from serving.decode import upload_size as analysis_size  # the same scaling and rounding

ISSUE_TEXT = {
    "low_resolution": "the photo's resolution is too low",
    "blurry": "the photo looks blurred or out of focus",
    "too_dark": "the photo is too dark",
    "too_bright": "the photo is over-exposed",
    "not_a_lesion": "this does not look like a photo of a skin lesion",
}

# Fixed parts of the exposure measures (the thresholds are model.json's); the app's QualityCheck
# uses the same values.
CLIP_LEVEL = 250  # a luma or channel value at or above this counts as clipped
MIDTONE_QUANTILE = 0.5
HIGHLIGHT_QUANTILE = 0.99
# The exposure keys added on 2026-12-01; older bundles lack them (serving/model.py checks them).
EXPOSURE_KEYS = ("dark_max_midtone", "dark_max_highlight", "white_clipped_max_fraction")
# The colour keys added later on 2026-12-01; bundles with only EXPOSURE_KEYS lack them.
COLOUR_KEYS = ("dark_max_midtone_neutral", "neutral_min_ratio", "colour_clipped_max_fraction")
# Fixed parts of the edge-sharpness measure (the threshold is model.json's; the app uses the same): an
# edge pixel's luma changes by at least this many levels across its two neighbours (central
# difference, horizontal and vertical together); fewer edge pixels than this share of the copy's
# interior: no edge to judge, the photo counts as blurred (sharpness 0).
EDGE_MIN_GRADIENT = 10
EDGE_MIN_FRACTION = 0.001
# The blur key added on 2026-12-07; older bundles lack it and keep the Laplacian-variance rule alone.
BLUR_KEYS = ("blur_min_edge_sharpness",)


@dataclass(frozen=True)
class QualityReport:
    """Gate verdict plus the measured values (useful for tuning and debugging)."""

    ok: bool
    issues: list[str]
    laplacian_var: float
    mean_luma: float
    clipped_fraction: float
    midtone: int = 0
    highlight: int = 0
    white_fraction: float = 0.0
    neutral_ratio: int = 0
    colour_clipped_fraction: float = 0.0
    edge_sharpness: float = 0.0


def laplacian_variance(gray: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian of a 2-D float array (low → blurred)."""
    if gray.shape[0] < 3 or gray.shape[1] < 3:
        return 0.0
    lap = (gray[:-2, 1:-1] + gray[2:, 1:-1] + gray[1:-1, :-2] + gray[1:-1, 2:] - 4.0 * gray[1:-1, 1:-1])
    return float(lap.var())


def edge_sharpness(gray: np.ndarray) -> float:
    """Sum of the squared 4-neighbour Laplacian over the sum of the squared gradient (central
    differences), over the edge pixels of the interior: those whose squared gradient is at least
    ``EDGE_MIN_GRADIENT`` squared. Independent of contrast, falls as edges widen (low → blurred);
    0.0 when fewer than ``EDGE_MIN_FRACTION`` of the interior pixels are edges. Integer sums, so the
    app computes the same double."""
    if gray.shape[0] < 3 or gray.shape[1] < 3:
        return 0.0
    g = gray.astype(np.int32)  # luma levels: squares fit in int32, their sums are taken in int64
    up, down, left, right = g[:-2, 1:-1], g[2:, 1:-1], g[1:-1, :-2], g[1:-1, 2:]
    lap = up + down + left + right - 4 * g[1:-1, 1:-1]
    gx, gy = right - left, down - up
    grad2 = gx * gx + gy * gy
    edges = grad2 >= EDGE_MIN_GRADIENT * EDGE_MIN_GRADIENT
    count = int(np.count_nonzero(edges))
    if count == 0 or count < EDGE_MIN_FRACTION * lap.size:
        return 0.0
    return int(np.where(edges, lap * lap, 0).sum(dtype=np.int64)) / int(np.where(edges, grad2, 0).sum(dtype=np.int64))


def blurry(report: QualityReport, gate: dict) -> bool:
    """Laplacian variance below ``blur_min_laplacian_var`` and, in bundles that have the key, edge
    sharpness below ``blur_min_edge_sharpness`` (a smooth but sharp subject is not blurred)."""
    sharpness = gate.get("blur_min_edge_sharpness")
    return (report.laplacian_var < float(gate["blur_min_laplacian_var"])
            and (sharpness is None or report.edge_sharpness < float(sharpness)))


def analysis_copy(image: Image.Image, mode: str, max_side: int) -> np.ndarray:
    """A ``mode`` ("L": luma, "RGB") copy downscaled with Pillow's BOX filter (never upscaled) so its
    longest side is ``max_side``: float32 for luma (blur, mean), uint8 for RGB (channel levels)."""
    copy = image.convert(mode)
    size = analysis_size(copy.size, max_side)
    if size != copy.size:
        copy = copy.resize(size, Image.Resampling.BOX)
    return np.asarray(copy, dtype=np.float32 if mode == "L" else np.uint8)


def level_at(values: np.ndarray, quantile: float) -> int:
    """The smallest 0-255 level at or below which at least ``quantile`` of ``values`` lie."""
    if values.size == 0:
        return 0
    counts = np.cumsum(np.bincount(values.ravel(), minlength=256))
    return int(np.searchsorted(counts, quantile * values.size))


def darkest_to_brightest(brightest: np.ndarray, darkest: np.ndarray) -> np.ndarray:
    """Each pixel's darkest channel as a share of its brightest (the per-pixel max and min over the
    channels), in 0-255 levels (integer, rounded half up; 255 for black, which is neutral). Exposure
    scaling leaves it unchanged."""
    brightest, darkest = brightest.astype(np.int32), darkest.astype(np.int32)
    ratio = (255 * darkest + brightest // 2) // np.maximum(brightest, 1)
    return np.where(brightest > 0, ratio, 255).astype(np.uint8)


def exposure_issues(report: QualityReport, gate: dict) -> list[str]:
    """``too_dark`` / ``too_bright`` for the measured values; keys a bundle lacks are not applied."""
    issues = []
    midtone, highlight = gate.get("dark_max_midtone"), gate.get("dark_max_highlight")
    neutral_midtone, neutral_ratio = gate.get("dark_max_midtone_neutral"), gate.get("neutral_min_ratio")
    dim = highlight is not None and report.highlight < float(highlight)
    dim_scene = dim and midtone is not None and report.midtone < float(midtone)
    dim_neutral_scene = (dim and neutral_midtone is not None and neutral_ratio is not None
                         and report.midtone < float(neutral_midtone)
                         and report.neutral_ratio >= 255 * float(neutral_ratio))
    if report.mean_luma < float(gate["dark_max_mean"]) or dim_scene or dim_neutral_scene:
        issues.append("too_dark")
    white, colour = gate.get("white_clipped_max_fraction"), gate.get("colour_clipped_max_fraction")
    if (report.mean_luma > float(gate["bright_min_mean"])
            or report.clipped_fraction > float(gate["clipped_max_fraction"])
            or (white is not None and report.white_fraction > float(white))
            or (colour is not None and report.colour_clipped_fraction > float(colour))):
        issues.append("too_bright")
    return issues


def assess_quality(image: Image.Image, original_size: tuple[int, int], gate: dict) -> QualityReport:
    """Check an RGB image against the gate thresholds.

    Args:
        image: decoded RGB image (possibly DCT-scaled).
        original_size: ``(width, height)`` of the upload before any scaling.
        gate: model.json ``quality_gate`` (min_side_px, analysis_max_side_px, blur_min_laplacian_var,
            dark_max_mean, bright_min_mean, clipped_max_fraction and, in bundles that have them,
            dark_max_midtone, dark_max_highlight, white_clipped_max_fraction,
            dark_max_midtone_neutral, neutral_min_ratio, colour_clipped_max_fraction,
            blur_min_edge_sharpness).
    """
    max_side = int(gate["analysis_max_side_px"])
    gray, rgb = analysis_copy(image, "L", max_side), analysis_copy(image, "RGB", max_side)
    brightest, darkest = rgb.max(axis=2), rgb.min(axis=2)
    report = QualityReport(
        ok=True, issues=[],
        laplacian_var=laplacian_variance(gray),
        mean_luma=float(gray.mean()) if gray.size else 0.0,
        clipped_fraction=float((gray >= CLIP_LEVEL).mean()) if gray.size else 0.0,
        midtone=level_at(brightest, MIDTONE_QUANTILE),
        highlight=level_at(brightest, HIGHLIGHT_QUANTILE),
        white_fraction=float((darkest >= CLIP_LEVEL).mean()) if darkest.size else 0.0,
        neutral_ratio=level_at(darkest_to_brightest(brightest, darkest), MIDTONE_QUANTILE),
        colour_clipped_fraction=float(((brightest >= CLIP_LEVEL) & (2 * darkest.astype(np.int32) < brightest)).mean())
        if brightest.size else 0.0,
        edge_sharpness=edge_sharpness(gray),
    )
    issues = []
    if min(original_size) < int(gate["min_side_px"]):
        issues.append("low_resolution")
    if blurry(report, gate):
        issues.append("blurry")
    issues += exposure_issues(report, gate)
    return replace(report, ok=not issues, issues=issues)
