"""The Grad-CAM grid splits right and wrong at the run's chosen threshold, not trainer.threshold."""

from __future__ import annotations

import numpy as np

from melanoma_exp.config import compose
from melanoma_exp.explain.gradcam import pick_grid


def test_grid_uses_the_operating_point_chosen_on_validation(tmp_path):
    import tensorflow as tf

    from melanoma_exp.evaluation.evaluate import _gradcam
    from melanoma_exp.models.build import build_model

    cfg = compose(["model=efficientnetv2b0", "model.weights=null", "data.image_size=32",
                   f"data.raw_dir={tmp_path / 'no_raw'}", "trainer.threshold=0.5", "trainer.gradcam.n_images=2", "head.units=8", "head.dropout1=0.0"])
    model = build_model(cfg.model, cfg.head, 32)
    images = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    y = np.array([1, 1, 0, 0])
    # At 0.5 the two low-probability malignant cases are misses; at the sensitivity-first threshold
    # 0.2 they are caught and the 0.25 benign case is the false alarm.
    prob = np.array([0.3, 0.25, 0.1, 0.9])
    ids = ["a", "b", "c", "d"]
    dataset = tf.data.Dataset.from_tensor_slices((images, y.astype("float32"))).batch(2)

    explain = _gradcam(model, cfg, dataset, ids, y, prob, tmp_path, threshold=0.2)

    chosen = [ids[i] for i in pick_grid(y, prob, 0.2, 2)]
    assert explain["gradcam_threshold"] == 0.2
    assert explain["gradcam_images"] == chosen == ["a", "c"]  # a caught melanoma, a cleared benign
    assert chosen != [ids[i] for i in pick_grid(y, prob, 0.5, 2)]  # trainer.threshold would differ
    assert (tmp_path / "gradcam" / "gradcam_grid.png").read_bytes()[:4] == b"\x89PNG"
