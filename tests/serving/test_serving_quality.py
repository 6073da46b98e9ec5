"""Quality gate and advice bands: thresholds tuned on the synthetic set plus degraded copies."""

from __future__ import annotations

import pytest
from PIL import Image, ImageEnhance, ImageFilter

from melanoma_exp.export.bundle import DEFAULT_BANDS, DEFAULT_QUALITY_GATE
from serving.quality import assess_quality, laplacian_variance
from serving.recommend import recommend


@pytest.fixture(scope="module")
def phone_sized_synthetic(tmp_path_factory) -> list[Image.Image]:
    """Synthetic lesions at 1024x768 (all six skin tones occur), from the real generator."""
    from melanoma_exp.data.synth import generate_synthetic

    raw = generate_synthetic(tmp_path_factory.mktemp("q") / "raw", n=24, size=(1024, 768), seed=3)
    return [Image.open(p).convert("RGB") for p in sorted(raw.glob("*.jpg"))]


def _flag_rate(images, issue):
    return sum(issue in assess_quality(im, im.size, DEFAULT_QUALITY_GATE).issues for im in images) / len(images)


def test_clean_synthetic_photos_pass(phone_sized_synthetic):
    for im in phone_sized_synthetic:
        report = assess_quality(im, im.size, DEFAULT_QUALITY_GATE)
        assert report.ok, (report.issues, report.laplacian_var, report.mean_luma)


def test_degraded_copies_are_flagged(phone_sized_synthetic):
    blurred = [im.filter(ImageFilter.GaussianBlur(3)) for im in phone_sized_synthetic]
    dark = [ImageEnhance.Brightness(im).enhance(0.2) for im in phone_sized_synthetic]
    bright = [ImageEnhance.Brightness(im).enhance(2.5) for im in phone_sized_synthetic]
    assert _flag_rate(blurred, "blurry") == 1.0
    assert _flag_rate(dark, "too_dark") >= 0.8
    assert _flag_rate(bright, "too_bright") >= 0.6
    small = [im.resize((160, 120)) for im in phone_sized_synthetic[:4]]
    assert all("low_resolution" in assess_quality(im, im.size, DEFAULT_QUALITY_GATE).issues for im in small)


def test_laplacian_variance_orders_sharpness():
    import numpy as np

    rng = np.random.default_rng(0)
    sharp = rng.uniform(0, 255, (64, 64)).astype(np.float32)
    smooth = np.tile(np.linspace(0, 255, 64, dtype=np.float32), (64, 1))
    assert laplacian_variance(sharp) > 1000 > laplacian_variance(smooth)
    assert laplacian_variance(np.zeros((2, 2), np.float32)) == 0.0


@pytest.mark.parametrize("p_malignant,level", [(0.05, "likely_benign"), (0.15, "monitor"),
                                               (0.3, "see_dermatologist"), (0.45, "immediate_examination"),
                                               (0.5, "seek_care"), (0.97, "seek_care")])
def test_bands_follow_thesis_table(p_malignant, level):
    label, advice = recommend(p_malignant, 0.5, DEFAULT_BANDS, [])
    assert advice["level"] == level
    assert label == ("malignant" if p_malignant >= 0.5 else "benign")
    assert "safe" not in advice["text"].lower()


def test_bad_photo_says_retake_but_keeps_worrying_advice():
    _, advice = recommend(0.9, 0.5, DEFAULT_BANDS, ["blurry"])
    assert advice["level"] == "retake_photo"
    assert "blurred" in advice["text"] and DEFAULT_BANDS["malignant"]["text"] in advice["text"]
