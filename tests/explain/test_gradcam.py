"""Grad-CAM from the registry's last conv layer, and the marker-attention number."""

from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf

from melanoma_exp.explain.gradcam import load_masks, marker_attention, pick_grid, save_gradcam_grid

HEAD = OmegaConf.create({"units": 8, "activation": "relu", "batch_norm": False, "dropout1": 0.0,
                         "second_dense": False, "units2": 4, "dropout2": 0.0, "regularizer": None,
                         "regularization": 0.0})


def test_marker_attention_is_the_share_of_mass_on_marker_pixels():
    cams = np.zeros((2, 4, 4), np.float32)
    masks = np.zeros((2, 4, 4), bool)
    cams[0, :2] = 1.0  # 8 units of mass, 4 of them on the marker
    masks[0, 0] = True
    cams[1] = 1.0  # image without a marker: ignored
    assert marker_attention(cams, masks) == pytest.approx(0.5)
    masks[0] = True
    assert marker_attention(cams, masks) == pytest.approx(1.0)
    assert np.isnan(marker_attention(cams, np.zeros_like(masks)))


def test_an_even_heatmap_scores_the_marker_area_share():
    from melanoma_exp.explain.gradcam import marker_area_share

    masks = np.zeros((3, 4, 4), bool)
    masks[0, 0] = True  # 4 of 16 pixels
    masks[1, :2, :2] = True  # 4 of 16 pixels; image 2 has no marker and is ignored
    even = np.ones((3, 4, 4), np.float32)
    assert marker_area_share(masks) == pytest.approx(0.25)
    assert marker_attention(even, masks) == pytest.approx(marker_area_share(masks))  # lift 1 = chance
    assert np.isnan(marker_area_share(np.zeros_like(masks)))


def test_grid_mixes_right_and_wrong_of_both_classes():
    y = np.array([1, 1, 0, 0, 0, 1])
    p = np.array([0.9, 0.2, 0.1, 0.8, 0.3, 0.7])
    chosen = pick_grid(y, p, 0.5, 4)
    kinds = {(int(y[i]), int(p[i] >= 0.5)) for i in chosen}
    assert kinds == {(1, 1), (0, 0), (0, 1), (1, 0)}
    assert len(pick_grid(y, p, 0.5, 10)) == len(y)


@pytest.mark.parametrize("name", ["efficientnetv2b0", "resnet50v2", "densenet121"])
def test_heatmaps_for_every_family(name, tmp_path):
    from melanoma_exp.explain.gradcam import gradcam_heatmaps
    from melanoma_exp.models.build import build_model

    model = build_model(OmegaConf.create({"name": name, "weights": None}), HEAD, 32)
    images = np.random.default_rng(0).uniform(0, 255, (3, 32, 32, 3)).astype("float32")
    heat = gradcam_heatmaps(model, images, name, batch_size=2)
    assert heat.shape == (3, 32, 32) and heat.dtype == np.float32
    assert heat.min() >= 0 and heat.max() <= 1 + 1e-6
    probs = model.predict(images, verbose=0).ravel()
    path = save_gradcam_grid(images, heat, np.array([0, 1, 1]), probs, tmp_path / "grid.png")
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_masks_are_cropped_and_resized_like_the_images(synthetic_raw):
    ids = sorted(p.stem for p in (synthetic_raw / "masks").glob("*.png"))
    assert ids, "the shared synthetic raw folder is generated with masks=True"
    masks = load_masks(synthetic_raw, ids[:20], 32)
    assert masks.shape == (min(20, len(ids)), 32, 32) and masks.dtype == bool
    assert load_masks(synthetic_raw / "nope", ids, 32) is None
