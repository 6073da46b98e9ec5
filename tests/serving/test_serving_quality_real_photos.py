"""The photo-quality gate on real photographs nobody here made (shipped inside scikit-learn,
scikit-image, matplotlib, PyWavelets and mahotas): sharp, well-lit photos pass; blurred,
low-resolution and badly exposed copies are caught. Measured values, which photos set the exposure
thresholds and the rows that miss the 90 % target: docs/evaluation.md."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter

from melanoma_exp.data.real_photos import BELOW_MIN_SIDE, DARK_BY_NATURE, real_photos
from melanoma_exp.export.bundle import DEFAULT_QUALITY_GATE
from serving.quality import EXPOSURE_KEYS, assess_quality


@pytest.fixture(scope="module")
def well_lit():
    photos = [p for p in real_photos() if p.name not in DARK_BY_NATURE | BELOW_MIN_SIDE]
    assert len(photos) >= 15 and len({p.source for p in photos}) >= 3
    return photos


def issues(image: Image.Image) -> list[str]:
    return assess_quality(image, image.size, DEFAULT_QUALITY_GATE).issues


def rate(photos, degrade, issue: str) -> float:
    return float(np.mean([issue in issues(degrade(p)) for p in photos]))


def exposed(p, ev: float) -> Image.Image:
    """The photo ``ev`` stops under (-) or over (+) exposed: scaled in linear light (gamma 2.2), clipped."""
    linear = (p.rgb / 255.0) ** 2.2
    return Image.fromarray(np.round(np.clip(linear * 2.0**ev, 0, 1) ** (1 / 2.2) * 255).astype(np.uint8))


def test_sharp_well_lit_real_photos_are_not_sent_back(well_lit):
    retake = [p.name for p in well_lit if issues(Image.fromarray(p.rgb))]
    assert len(retake) / len(well_lit) <= 0.05, retake


def test_a_dark_scene_by_nature_is_called_dark():
    (hubble,) = [p for p in real_photos(("scikit-image",)) if p.name in DARK_BY_NATURE]
    assert issues(Image.fromarray(hubble.rgb)) == ["too_dark"]


def test_out_of_focus_copies_are_caught(well_lit):
    # Gaussian blur with sigma = 0.5 % of the long side (2.6 px at 512 px): a visibly soft photo.
    def soft(p):
        return Image.fromarray(p.rgb).filter(ImageFilter.GaussianBlur(0.005 * max(p.rgb.shape[:2])))

    assert rate(well_lit, soft, "blurry") >= 0.9


def test_low_resolution_copies_are_caught(well_lit):
    def small(p):
        h, w = p.rgb.shape[:2]
        scale = 160 / min(h, w)
        return Image.fromarray(p.rgb).resize((round(w * scale), round(h * scale)), Image.Resampling.BOX)

    assert rate(well_lit, small, "low_resolution") >= 0.9


# Exposure mistakes: the floors are what the gate reaches (docs/evaluation.md), not the 90 % target,
# which -3 EV and +2 EV miss: a bright scene 3 stops under has the midtones of well-lit dark skin,
# a dark scene 2 stops over looks normally exposed and clips little white.
@pytest.mark.parametrize("ev, issue, floor", [(-4, "too_dark", 0.9), (-3, "too_dark", 0.7),
                                              (-2, "too_dark", 0.3), (2, "too_bright", 0.7),
                                              (3, "too_bright", 0.85)])
def test_badly_exposed_copies_are_caught(well_lit, ev, issue, floor):
    assert rate(well_lit, lambda p: exposed(p, ev), issue) >= floor


def test_bundles_without_the_exposure_keys_keep_the_mean_rule_and_catch_fewer(well_lit):
    old_gate = {k: v for k, v in DEFAULT_QUALITY_GATE.items() if k not in EXPOSURE_KEYS}
    for ev, issue in ((-3, "too_dark"), (2, "too_bright")):
        copies = [exposed(p, ev) for p in well_lit]
        new = sum(issue in issues(im) for im in copies)
        old = sum(issue in assess_quality(im, im.size, old_gate).issues for im in copies)
        assert new >= old + 0.25 * len(copies), (ev, new, old)


def test_every_source_loads_by_name_and_an_unknown_one_is_named():
    assert {p.source for p in real_photos(("matplotlib",))} == {"matplotlib"}
    with pytest.raises(ValueError, match="unknown real-photo source"):
        real_photos(("pexels",))
