"""Grad-CAM catches the marker-sticker shortcut (issue 3, thesis section 3.6.1), end to end.

Two real runs of the trainer on synthetic data that differ only in `data.synth.shortcut`: at 1.0
every malignant image carries a sticker (and 2 % of benign ones), at 0.0 half of all images carry
one whatever their label. Each run goes synth -> prepare -> train -> evaluate and writes
`explain/marker_attention` (the share of Grad-CAM mass on sticker pixels of the test images that
have one) to report.json. The model that could cheat must look at the stickers more.

Why these settings (measured, docs/training.md "Grad-CAM and the marker shortcut"): at 96 px the
backbone's last convolutional map is 3x3, so a heatmap is coarse and a default-size sticker (3 % of
the image) barely moves the share; stickers twice the radius (`sticker_scale=2`, ~12 % of the image)
make the difference measurable. `sticker_rate=0.5` gives the no-shortcut run enough stickered
test images to measure (the default 4 % leaves none in a 78-image test split).
"""

from __future__ import annotations

import json

import numpy as np
import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # two real training runs at 96 px

IMAGE_SIZE = 96
SEED = 0
# Lowest shortcut / no-shortcut ratio of marker attention to accept. Measured on the 2-core dev box
# (docs/training.md): 1.53, 1.66, 1.29, 1.45 for seeds 0-3, so 1.2 sits below every one of them.
MIN_RATIO = 1.2


def _overrides(root, shortcut: float) -> list[str]:
    return [
        f"paths.data_dir={root / 'data'}", f"paths.output_dir={root / 'outputs'}",
        f"data.raw_dir={root / 'raw'}", f"data.prepared_root={root / 'prepared'}",
        f"data.image_size={IMAGE_SIZE}", "data.batch_size=32", "data.balance=none", "data.shard_size=256",
        "data.synth.n=400", f"data.synth.size={IMAGE_SIZE}", f"data.synth.seed={SEED}",
        f"data.synth.shortcut={shortcut}", "data.synth.sticker_rate=0.5", "data.synth.sticker_scale=2",
        "data.synth.masks=true",
        "model=efficientnetv2b0", "model.weights=null", "unfreeze=full", "unfreeze.keep_bn_frozen=false",
        "head.units=64", "head.dropout1=0.2",
        "trainer.epochs=8", f"trainer.seed={SEED}", "trainer.verbose=0",
        "trainer.early_stopping.patience=100", "trainer.reduce_lr.enabled=false",
        "trainer.gradcam.max_marker_images=200", f"trainer.run_dir={root / 'run'}",
        "tracking=none", "eval.enabled=false",
    ]


def _train_and_read_report(root, shortcut: float) -> dict:
    """The real path: the trainer generates the raw folder from data.synth, prepares, trains,
    evaluates; the report is what a user reads."""
    from melanoma_exp.commands.train import train
    from melanoma_exp.config import compose

    train(compose(_overrides(root, shortcut)))
    return json.loads((root / "run" / "evaluation" / "report.json").read_text())


def test_shortcut_model_puts_more_gradcam_mass_on_marker_stickers(tmp_path):
    cheat = _train_and_read_report(tmp_path / "shortcut", 1.0)
    honest = _train_and_read_report(tmp_path / "no_shortcut", 0.0)

    # both numbers are measured on enough stickered test images
    assert cheat["explain"]["marker_images"] >= 20 and honest["explain"]["marker_images"] >= 20
    # the shortcut run did learn to cheat: the sticker makes it nearly always right
    assert cheat["test"]["accuracy"] >= 0.9
    a_cheat, a_honest = cheat["explain"]["marker_attention"], honest["explain"]["marker_attention"]
    area = cheat["explain"]["marker_area_share"]  # what an even heatmap would score
    print(f"marker attention: shortcut {a_cheat:.3f}, no shortcut {a_honest:.3f}, "
          f"ratio {a_cheat / a_honest:.2f}; sticker area share {area:.3f}")
    assert np.isfinite(a_cheat) and np.isfinite(a_honest)
    assert a_cheat > MIN_RATIO * a_honest
    # and more than a heatmap spread evenly over the image would put on the stickers
    assert a_cheat > area and cheat["explain"]["marker_attention_lift"] == pytest.approx(a_cheat / area)
