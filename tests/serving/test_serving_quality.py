"""Quality gate and advice bands: thresholds tuned on the synthetic set plus degraded copies."""

from __future__ import annotations

import csv
import json
import shutil
from collections import defaultdict

import numpy as np
import pytest
from PIL import Image, ImageEnhance, ImageFilter

from melanoma_exp.export.bundle import DEFAULT_BANDS, DEFAULT_QUALITY_GATE
from serving.model import BundleError, load_model_json
from serving.quality import (
    BLUR_KEYS,
    COLOUR_KEYS,
    EXPOSURE_KEYS,
    assess_quality,
    darkest_to_brightest,
    laplacian_variance,
    level_at,
)
from serving.recommend import recommend

# The gate of a bundle exported before the exposure keys: the mean-luma and clipping rule alone.
MEAN_RULE_GATE = {k: v for k, v in DEFAULT_QUALITY_GATE.items() if k not in EXPOSURE_KEYS + COLOUR_KEYS}


@pytest.fixture(scope="module")
def phone_sized_synthetic(tmp_path_factory) -> list[Image.Image]:
    """Synthetic lesions at 1024x768 (all six skin tones occur), from the real generator."""
    from melanoma_exp.data.synth import generate_synthetic

    raw = generate_synthetic(tmp_path_factory.mktemp("q") / "raw", n=24, size=(1024, 768), seed=3)
    return [Image.open(p).convert("RGB") for p in sorted(raw.glob("*.jpg"))]


@pytest.fixture(scope="module")
def fresh_lesions_by_skin_tone(tmp_path_factory) -> dict[str, list[Image.Image]]:
    """96 fresh phone-sized lesions from the real generator (a seed no threshold was set on), by
    Fitzpatrick type: all six occur, VI 13 times, I 19 times."""
    from melanoma_exp.data.synth import generate_synthetic

    raw = generate_synthetic(tmp_path_factory.mktemp("tones") / "raw", n=96, size=(1024, 768), seed=2)
    by_tone = defaultdict(list)
    with (raw / "metadata.csv").open(encoding="utf8") as f:
        for row in csv.DictReader(f):
            image = Image.open(raw / f"{row['isic_id']}.jpg").convert("RGB")
            by_tone[row["fitzpatrick_skin_type"]].append(image)
    return dict(by_tone)


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


def test_every_skin_tone_is_sent_back_no_more_than_by_the_mean_rule(fresh_lesions_by_skin_tone):
    assert set(fresh_lesions_by_skin_tone) == {"I", "II", "III", "IV", "V", "VI"}
    for tone, images in fresh_lesions_by_skin_tone.items():
        now = [assess_quality(im, im.size, DEFAULT_QUALITY_GATE).issues for im in images]
        before = [assess_quality(im, im.size, MEAN_RULE_GATE).issues for im in images]
        assert sum(map(bool, now)) <= sum(map(bool, before)), (tone, now, before)


def test_lesions_on_dark_skin_pass_the_gate(fresh_lesions_by_skin_tone):
    dark_skin = fresh_lesions_by_skin_tone["V"] + fresh_lesions_by_skin_tone["VI"]
    assert len(fresh_lesions_by_skin_tone["VI"]) >= 10
    for im in dark_skin:
        report = assess_quality(im, im.size, DEFAULT_QUALITY_GATE)
        assert report.ok, (report.issues, report.mean_luma, report.midtone, report.highlight)


def test_the_darkest_skin_three_stops_under_is_too_dark(fresh_lesions_by_skin_tone):
    def under(im: Image.Image, ev: float) -> Image.Image:
        linear = (np.asarray(im) / 255.0) ** 2.2
        return Image.fromarray(np.round((linear * 2.0**ev) ** (1 / 2.2) * 255).astype(np.uint8))

    assert _flag_rate([under(im, -3) for im in fresh_lesions_by_skin_tone["VI"]], "too_dark") == 1.0


def test_exposure_levels_count_pixels_per_channel():
    # 100 pixels: 98 dark red (the brightest channel is red), 2 white.
    rgb = np.zeros((10, 10, 3), np.uint8)
    rgb[..., 0] = 90
    rgb[0, :2] = 255
    im = Image.fromarray(rgb)
    report = assess_quality(im, im.size, {**DEFAULT_QUALITY_GATE, "min_side_px": 1})
    assert (report.midtone, report.highlight, report.white_fraction) == (90, 255, 0.02)
    assert level_at(np.array([0, 0, 7, 9], np.uint8), 0.5) == 0
    assert level_at(np.array([0, 7, 7, 9], np.uint8), 0.5) == 7


def test_the_scene_colour_separates_a_dim_scene_from_dark_skin():
    gate = {**DEFAULT_QUALITY_GATE, "min_side_px": 1, "blur_min_laplacian_var": 0}
    today = {k: v for k, v in gate.items() if k not in COLOUR_KEYS}

    def verdict(pixels, rule=gate):
        im = Image.fromarray(np.array(pixels, np.uint8).reshape(10, 10, 3))
        return assess_quality(im, im.size, rule)

    # Brightest channel 80 (the limit for any scene is 60), nothing near white: a neutral grey
    # scene is too dark, dark skin (darkest channel 0.46 of the brightest) at the same level passes.
    grey = verdict([(80, 78, 74)] * 100)
    assert (grey.midtone, grey.neutral_ratio, grey.issues) == (80, 236, ["too_dark"])
    assert verdict([(80, 78, 74)] * 100, today).issues == []
    skin = verdict([(80, 52, 37)] * 100)
    assert (skin.neutral_ratio, skin.issues) == (118, [])
    # 8 % saturated colour clipped (darkest channel below half the brightest): over-exposed; fair
    # skin with its red channel clipped everywhere is not that saturated.
    clipped = verdict([(255, 150, 100)] * 8 + [(180, 150, 120)] * 92)
    assert (clipped.colour_clipped_fraction, clipped.issues) == (0.08, ["too_bright"])
    assert verdict([(255, 150, 100)] * 8 + [(180, 150, 120)] * 92, today).issues == []
    fair = verdict([(255, 200, 170)] * 100)
    assert (fair.colour_clipped_fraction, fair.issues) == (0.0, [])
    pixels = np.array([[(0, 0, 0), (200, 100, 100), (201, 100, 100), (90, 45, 0)]], np.uint8)
    ratio = darkest_to_brightest(pixels.max(axis=2), pixels.min(axis=2))
    assert ratio.tolist() == [[255, 128, 127, 0]]


def test_exposure_keys_are_optional_and_checked_at_load(tiny_bundle, tmp_path):
    bundle = tmp_path / "bundle"
    shutil.copytree(tiny_bundle, bundle)
    path = bundle / "model.json"
    spec = json.loads(path.read_text())
    optional = EXPOSURE_KEYS + COLOUR_KEYS + BLUR_KEYS
    for key in optional:  # today's export writes them
        assert spec["quality_gate"][key] == DEFAULT_QUALITY_GATE[key]
    for key in optional:  # a bundle exported before them: loads, keeps the mean rule (variance-only blur)
        del spec["quality_gate"][key]
    path.write_text(json.dumps(spec))
    assert not set(optional) & set(load_model_json(bundle)["quality_gate"])
    limits = {"dark_max_midtone": 60, "dark_max_highlight": 138}
    for bad, message in (
        ({"white_clipped_max_fraction": "0.12"}, "white_clipped_max_fraction must be a number"),
        ({"dark_max_midtone": True, "dark_max_highlight": 138}, "dark_max_midtone must be a number"),
        ({"dark_max_midtone": 60}, "dark_max_midtone and dark_max_highlight go together"),
        ({**limits, "colour_clipped_max_fraction": "0.03"}, "colour_clipped_max_fraction must be a number"),
        ({**limits, "dark_max_midtone_neutral": 90}, "dark_max_midtone_neutral and neutral_min_ratio go together"),
        ({"dark_max_midtone_neutral": 90, "neutral_min_ratio": 0.67}, "dark_max_midtone_neutral needs dark_max_h"),
        ({"blur_min_edge_sharpness": "0.16"}, "blur_min_edge_sharpness must be a number"),
        ({"blur_min_edge_sharpness": False}, "blur_min_edge_sharpness must be a number"),
    ):
        path.write_text(json.dumps({**spec, "quality_gate": {**spec["quality_gate"], **bad}}))
        with pytest.raises(BundleError, match=message):
            load_model_json(bundle)


def test_laplacian_variance_orders_sharpness():
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
