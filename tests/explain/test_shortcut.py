"""Grad-CAM catches the marker-sticker shortcut (issue 3, thesis section 3.6.1), end to end.

The premise is built into the data, so no machine's kernels can take it away (issue 23: with the
lesions also telling the classes apart, a "shortcut" model on another CPU looked at the stickers only
1.17x as much as an honest one). One synthetic raw folder (128 px, a marker sticker on half of all
images whatever their diagnosis: `shortcut=0`, `sticker_rate=0.5`) is labelled two ways:

- shortcut run: an image is Malignant exactly when it carries a sticker (read from the generator's
  sticker masks). The lesions were drawn for the generator's own labels, which the stickers ignore,
  so they say nothing about these labels: the sticker is the only cue there is, and a model that
  gets the test split right well above chance can only be reading it.
- honest run: the generator's own labels (the lesions' ABCD looks); the stickers are noise.

Same pixels, same stickers, only the labels differ. Each run is the real path, prepare -> train ->
evaluate, and report.json holds `explain/marker_attention`: the share of Grad-CAM mass on sticker
pixels over the test images that have one, beside `marker_area_share` (what a heatmap spread evenly
over the image scores) and their ratio `marker_attention_lift`.

Thresholds, from the premise rather than from one machine's numbers: the shortcut model must put at
least 1.4x the even-heatmap share on the stickers (`lift`, chance = 1) and at least 1.4x what the
honest model puts there. Why 128 px: the backbone's last convolutional map is 1/32 of the input (4x4
here, 3x3 at 96 px) and Grad-CAM cannot be sharper than that, so even a model that reads nothing but
the sticker spreads its heatmap beyond it (at 96 px such a model scored lift 1.36 only). Stickers
twice the default radius (`sticker_scale=2`, ~12 % of the image, 36-62 px across) span a cell of
that map (32 px) or more.

Measured on the 2-core dev box (other jobs running; these numbers do not depend on load), 6 epochs,
400 images, seeds 0-3: shortcut lift 1.70, 1.83, 1.87, 1.81 (attention 0.206-0.224, test accuracy
0.935-0.987; validation accuracy 1.0 from epoch 4 or 5 of 6), honest lift 0.70, 0.91, 0.92, 0.91
(attention 0.084-0.111), ratio 2.45, 2.03, 2.02, 2.04. The thresholds sit 0.3 below the lowest lift
and 0.6 below the lowest ratio, more than the whole spread across seeds (a seed changes the images,
the initial weights and the batch order; another CPU's kernels only nudge one trajectory). With the
premise broken (both runs on the generator's own labels, seed 0) the lift is 0.70 and the ratio 1.00:
both asserts fail. The test takes 187 s (the 96 px version it replaces: 196 s, run back to back).
"""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pandas as pd
import pytest
from PIL import Image

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]  # two real training runs at 128 px

IMAGE_SIZE = 128
SEED = 0
MIN_FACTOR = 1.4  # the shortcut model's marker attention over an even heatmap's, and over the honest model's


def _raw_folders(root) -> dict[str, object]:
    """The one synthetic raw folder, labelled two ways (images and masks hard-linked, not copied)."""
    from melanoma_exp.data.synth import generate_synthetic

    source = generate_synthetic(root / "generated", n=400, size=IMAGE_SIZE, seed=SEED, shortcut=0.0,
                                sticker_rate=0.5, sticker_scale=2, masks=True)
    folders = {}
    for name in ("sticker_labels", "lesion_labels"):
        folders[name] = root / name
        shutil.copytree(source, folders[name], copy_function=os.link)
    meta = pd.read_csv(source / "metadata.csv", dtype=str, keep_default_na=False)
    labelled = meta["diagnosis_1"].isin(["Benign", "Malignant"])
    marked = np.array([np.asarray(Image.open(source / "masks" / f"{i}.png")).any() for i in meta["isic_id"]])
    meta.loc[labelled, "diagnosis_1"] = np.where(marked[labelled], "Malignant", "Benign")
    (folders["sticker_labels"] / "metadata.csv").unlink()  # a hard link to the source's: replace it
    meta.to_csv(folders["sticker_labels"] / "metadata.csv", index=False)
    return folders


def _overrides(root, raw) -> list[str]:
    return [
        f"paths.data_dir={root / 'data'}", f"paths.output_dir={root / 'outputs'}",
        f"data.raw_dir={raw}", f"data.prepared_root={root / 'prepared'}",
        f"data.image_size={IMAGE_SIZE}", "data.batch_size=32", "data.balance=none", "data.shard_size=256",
        "model=efficientnetv2b0", "model.weights=null", "unfreeze=full", "unfreeze.keep_bn_frozen=false",
        "head.units=64", "head.dropout1=0.2",
        "trainer.epochs=6", f"trainer.seed={SEED}", "trainer.verbose=0",
        "trainer.early_stopping.patience=100", "trainer.reduce_lr.enabled=false",
        "trainer.gradcam.max_marker_images=200", f"trainer.run_dir={root / 'run'}",
        "tracking=none", "eval.enabled=false",
    ]


def _train_and_read_report(root, raw) -> dict:
    """The real path: the trainer prepares the raw folder, trains, evaluates; the report is what a
    user reads."""
    from melanoma_exp.commands.train import train
    from melanoma_exp.config import compose

    train(compose(_overrides(root, raw)))
    return json.loads((root / "run" / "evaluation" / "report.json").read_text())


def test_shortcut_model_puts_more_gradcam_mass_on_marker_stickers(tmp_path):
    raw = _raw_folders(tmp_path / "raw")
    cheat = _train_and_read_report(tmp_path / "shortcut", raw["sticker_labels"])
    honest = _train_and_read_report(tmp_path / "no_shortcut", raw["lesion_labels"])

    # both numbers are measured on enough stickered test images
    assert cheat["explain"]["marker_images"] >= 20 and honest["explain"]["marker_images"] >= 20
    # the shortcut model did learn its only cue (chance is ~0.5: the lesions carry no information)
    assert cheat["test"]["accuracy"] >= 0.8
    a_cheat, a_honest = cheat["explain"]["marker_attention"], honest["explain"]["marker_attention"]
    area = cheat["explain"]["marker_area_share"]  # what an even heatmap would score
    print(f"marker attention: shortcut {a_cheat:.3f} (lift {a_cheat / area:.2f}), no shortcut {a_honest:.3f} "
          f"(lift {a_honest / honest['explain']['marker_area_share']:.2f}), ratio {a_cheat / a_honest:.2f}; "
          f"sticker area share {area:.3f}")
    assert np.isfinite(a_cheat) and np.isfinite(a_honest)
    assert cheat["explain"]["marker_attention_lift"] == pytest.approx(a_cheat / area)
    assert a_cheat >= MIN_FACTOR * area, "the shortcut model looks at its only cue barely more than chance"
    assert a_cheat >= MIN_FACTOR * a_honest, "the shortcut model looks at the stickers barely more than the honest one"
