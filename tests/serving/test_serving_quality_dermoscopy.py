"""The photo-quality gate on real dermoscopy: the in-repo ISIC UDA-1 sample (samples/isic_uda1, 418
images, CC0, long side 512 px). Sharp dermoscopy is rarely sent back although smooth skin has a low
Laplacian variance (the edge-sharpness look, ``blur_min_edge_sharpness``); copies blurred with a
Gaussian of known sigma are still caught. Measured values and what is left: docs/evaluation.md,
"Blur on real dermoscopy"."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageFilter

from melanoma_exp.export.bundle import DEFAULT_QUALITY_GATE
from melanoma_exp.paths import project_root
from serving.quality import BLUR_KEYS, QualityReport, assess_quality, blurry, edge_sharpness

SAMPLE = project_root() / "samples" / "isic_uda1"
# A bundle exported before the edge-sharpness key: the Laplacian-variance rule alone.
VARIANCE_RULE_GATE = {k: v for k, v in DEFAULT_QUALITY_GATE.items() if k not in BLUR_KEYS}
MAX_SENT_BACK = 0.05  # issue 23: at most 5 % of real dermoscopic images sent back


@pytest.fixture(scope="module")
def dermoscopy() -> list[Image.Image]:
    paths = sorted(SAMPLE.glob("ISIC_*.jpg"))
    assert len(paths) == 418, f"samples/isic_uda1 should hold 418 images, found {len(paths)}"
    images = []
    for path in paths:
        with Image.open(path) as image:
            images.append(image.convert("RGB"))
    return images


@pytest.fixture(scope="module")
def reports(dermoscopy) -> list[QualityReport]:
    return [assess_quality(im, im.size, DEFAULT_QUALITY_GATE) for im in dermoscopy]


def variance_rule(report: QualityReport) -> list[str]:
    """The issues a bundle without ``blur_min_edge_sharpness`` reports for the same measures."""
    others = [i for i in report.issues if i != "blurry"]
    return ["blurry", *others] if blurry(report, VARIANCE_RULE_GATE) else others


def issues(image: Image.Image, gate: dict = DEFAULT_QUALITY_GATE) -> list[str]:
    return assess_quality(image, image.size, gate).issues


def as_jpeg(image: Image.Image, quality: int = 90) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    with Image.open(buffer) as decoded:
        return decoded.convert("RGB")


def test_sharp_real_dermoscopy_is_rarely_sent_back(reports):
    verdicts = [r.issues for r in reports]
    sent_back = sum(map(bool, verdicts)) / len(reports)
    assert sent_back <= MAX_SENT_BACK, (sent_back, [v for v in verdicts if v])
    assert sum("blurry" in v for v in verdicts) / len(reports) <= 0.01  # measured 0 of 418 (2026-12-07)
    # The sample exercises the edge look: the variance rule alone sends back more than allowed.
    assert sum(bool(variance_rule(r)) for r in reports) / len(reports) > MAX_SENT_BACK


def test_older_bundles_keep_the_variance_rule(reports):
    # Without blur_min_edge_sharpness a smooth sharp image under the variance limit stays blurry.
    low = [r for r in reports if r.laplacian_var < DEFAULT_QUALITY_GATE["blur_min_laplacian_var"]]
    assert len(low) >= 10
    assert all("blurry" in variance_rule(r) and "blurry" not in r.issues for r in low)
    assert all(r.edge_sharpness >= DEFAULT_QUALITY_GATE["blur_min_edge_sharpness"] for r in low)


# Gaussian sigma as a share of the long side (0.5 %: 2.6 px at 512 px, a visibly soft photo), on the
# whole sample or every `stride`-th image; measured 418 / 418 caught at both sigmas (2026-12-07).
@pytest.mark.parametrize("sigma, stride", [(0.005, 1), (0.01, 4)])
def test_real_dermoscopy_blurred_with_a_known_sigma_is_caught(dermoscopy, sigma, stride):
    blurred = [im.filter(ImageFilter.GaussianBlur(sigma * max(im.size))) for im in dermoscopy[::stride]]
    assert np.mean(["blurry" in issues(im) for im in blurred]) >= 0.95
    # Saved as a phone would save it: JPEG's block edges must not pass for sharp detail.
    jpegs = [as_jpeg(im) for im in blurred[::4]]
    assert np.mean(["blurry" in issues(im) for im in jpegs]) >= 0.95


def test_small_copies_of_real_dermoscopy_are_judged_like_the_sample(dermoscopy):
    # 224 px on the long side (Lanczos, JPEG 90, as the sample was made): blur and exposure are
    # judged as at 512 px; a short side under min_side_px is low resolution by design.
    def long_side(im: Image.Image, side: int) -> Image.Image:
        scale = side / max(im.size)
        return as_jpeg(im.resize((round(im.width * scale), round(im.height * scale)), Image.Resampling.LANCZOS))

    copies = [long_side(im, 224) for im in dermoscopy]
    verdicts = [issues(im) for im in copies]
    judged = [set(v) - {"low_resolution"} for v in verdicts]
    assert sum(map(bool, judged)) / len(copies) <= MAX_SENT_BACK, [v for v in judged if v]
    small = DEFAULT_QUALITY_GATE["min_side_px"]
    assert all(("low_resolution" in v) == (min(im.size) < small) for im, v in zip(copies, verdicts, strict=True))
    # 224 x 224 centre crops (the square crops other collections ship) pass the whole gate.
    def square(im: Image.Image) -> Image.Image:
        side = min(im.size)
        left, top = (im.width - side) // 2, (im.height - side) // 2
        return as_jpeg(im.crop((left, top, left + side, top + side)).resize((224, 224), Image.Resampling.LANCZOS))

    squares = [issues(square(im)) for im in dermoscopy]
    assert sum(map(bool, squares)) / len(squares) <= MAX_SENT_BACK, [v for v in squares if v]


def step_edges(contrast: float, sigma: float) -> np.ndarray:
    """A disc (step edges of ``contrast`` levels) blurred by a Gaussian of ``sigma`` px, as luma."""
    yy, xx = np.mgrid[0:256, 0:256]
    disc = np.where((yy - 128.3) ** 2 + (xx - 127.7) ** 2 < 70**2, 100 + contrast, 100).astype(np.uint8)
    image = Image.fromarray(disc)
    if sigma:
        image = image.filter(ImageFilter.GaussianBlur(sigma))
    return np.asarray(image, dtype=np.float32)


def test_edge_sharpness_reads_the_edge_width_not_its_contrast():
    # The calibration docs/evaluation.md states: sigma 0.5 / 0.75 / 1 / 1.5 px -> 0.70 / 0.28 / 0.12 / 0.05.
    measured = {s: edge_sharpness(step_edges(100, s)) for s in (0.5, 0.75, 1.0, 1.5)}
    for sigma, expected in ((0.5, 0.70), (0.75, 0.28), (1.0, 0.12), (1.5, 0.05)):
        assert measured[sigma] == pytest.approx(expected, rel=0.1), measured
    limit = DEFAULT_QUALITY_GATE["blur_min_edge_sharpness"]
    assert measured[0.75] > limit > measured[1.0]
    # Half or double the contrast, the same width: about the same sharpness (the variance scales 4x).
    for contrast in (50, 150):
        assert edge_sharpness(step_edges(contrast, 0.75)) == pytest.approx(measured[0.75], rel=0.15)
    # Nothing changes by 10 levels across two pixels: no edge to judge, counted as blurred.
    assert edge_sharpness(step_edges(20, 2.0)) == 0.0
    assert edge_sharpness(np.zeros((2, 9), np.float32)) == 0.0
