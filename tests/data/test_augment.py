"""The augmentation is what its settings say: exact flips, bounded values, labels untouched."""

from __future__ import annotations

import numpy as np
import pytest

from melanoma_exp.data.augment import augment_batch, augment_settings

OFF = augment_settings(None)


def _batch(n=16, size=24):
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)


def _run(images, settings, seed=(1, 2)):
    import tensorflow as tf

    return augment_batch(tf.constant(images), tf.constant(seed, tf.int64), settings).numpy()


def test_off_is_identity_as_float():
    images = _batch()
    out = _run(images, OFF)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, images.astype(np.float32))


def test_flip_only_gives_exact_mirror_images():
    images = _batch(32)
    out = _run(images, {**OFF, "flip": 1.0})
    seen = set()
    for original, flipped in zip(images.astype(np.float32), out, strict=True):
        candidates = {"none": original, "lr": original[:, ::-1], "ud": original[::-1],
                      "both": original[::-1, ::-1]}
        match = [k for k, v in candidates.items() if np.array_equal(v, flipped)]
        assert match, "a flip must be an exact mirror image (no resampling blur)"
        seen.add(match[0])
    assert len(seen) >= 3  # random per image, not one choice for the batch


def test_geometry_samples_existing_pixels_and_values_stay_in_range():
    images = _batch(8)
    out = _run(images, {**OFF, "rotate": 0.25, "zoom": 0.1, "contrast": 0.1, "brightness": 0.1})
    assert out.shape == images.shape and out.min() >= 0 and out.max() <= 255
    assert not np.array_equal(out, images.astype(np.float32))
    # geometry only samples existing pixels: every output colour exists in its input image
    geometry = _run(images, {**OFF, "rotate": 0.25, "zoom": 0.1})
    for original, moved in zip(images, geometry, strict=True):
        colours = {tuple(p) for p in original.reshape(-1, 3)}
        assert all(tuple(p) in colours for p in moved.astype(np.uint8).reshape(-1, 3))


def test_same_seed_same_output_and_other_seed_differs():
    images = _batch()
    settings = augment_settings({"flip": True, "rotate": 0.25, "zoom": 0.1, "contrast": 0.1,
                                 "brightness": 0.1})
    np.testing.assert_array_equal(_run(images, settings, (3, 4)), _run(images, settings, (3, 4)))
    assert not np.array_equal(_run(images, settings, (3, 4)), _run(images, settings, (3, 5)))


@pytest.mark.parametrize("augment, message", [
    ({"shear": 0.1}, "Unknown data.augment key"),
    ({"zoom": 1.5}, "data.augment.zoom must be in"),
    ({"contrast": -0.1}, "data.augment.contrast must be in"),
])
def test_bad_settings_are_named(augment, message):
    with pytest.raises(ValueError, match=message):
        augment_settings(augment)
