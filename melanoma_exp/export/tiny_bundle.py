"""Build a small but real model bundle in seconds: for tests, the Kotlin app's tests and demos.

`python -m melanoma_exp.export.tiny_bundle --out DIR [--size 64]` trains a tiny Keras CNN for a
few steps on synthetic lesion images and exports it with `export_bundle`, so every consumer of
contract 4 can be tested against the genuine article without ImageNet weights or ISIC data.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from melanoma_exp.data.imageops import load_resized
from melanoma_exp.data.real_photos import real_photos
from melanoma_exp.data.synth import generate_synthetic
from melanoma_exp.export.bundle import export_bundle
from melanoma_exp.paths import project_root

TINY_REPORT_TEST = {"note": "tiny synthetic model for tests; metrics are meaningless"}


def synthetic_arrays(n: int, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(images uint8 (n, size, size, 3), labels float32 (n,))`` of synthetic lesions drawn by
    the data package's generator and read back through its loader."""
    with tempfile.TemporaryDirectory(prefix="tiny-synth-") as tmp:
        raw = Path(generate_synthetic(Path(tmp) / "raw", n=n, size=size, seed=seed))
        with open(raw / "metadata.csv", newline="", encoding="utf-8") as fh:
            rows = [r for r in csv.DictReader(fh) if r["diagnosis_1"] in ("Benign", "Malignant")]
        images = [load_resized(next(raw.glob(f"{r['isic_id']}.*")), size) for r in rows]
        labels = [1.0 if r["diagnosis_1"] == "Malignant" else 0.0 for r in rows]
    return np.stack(images).astype(np.uint8), np.asarray(labels, dtype=np.float32)


def build_tiny_model(size: int):
    """A tiny CNN with the bundle's input contract: float32 RGB 0-255 in, sigmoid (B, 1) out."""
    import keras

    inputs = keras.Input((size, size, 3), dtype="float32", name="image")
    x = keras.layers.Rescaling(1.0 / 255.0, name="normalize")(inputs)  # normalisation inside
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(x)
    x = keras.layers.Conv2D(16, 3, strides=2, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(1, activation="sigmoid", name="malignant")(x)
    model = keras.Model(inputs, outputs, name="tiny_cnn")
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="binary_crossentropy")
    return model


def make_tiny_bundle(out_dir: str | os.PathLike, size: int = 64, *, n: int = 48, epochs: int = 3,
                     seed: int = 0, version: str = "0", ood: bool = False) -> Path:
    """Train the tiny CNN briefly on synthetic images and export a real bundle to ``out_dir``.

    With ``ood`` the bundle also carries the not-a-lesion check (``ood.tflite`` + model.json ``ood``).
    """
    import keras

    keras.utils.set_random_seed(seed)
    images, labels = synthetic_arrays(n, size, seed)
    model = build_tiny_model(size)
    model.fit(images.astype("float32"), labels, epochs=epochs, batch_size=16, verbose=0)
    meta = {
        "name": "tiny-test-model",
        "version": version,
        "source_run_id": None,
        "architecture": "tiny_cnn",
        "threshold": 0.5,
        "test": dict(TINY_REPORT_TEST),
        "data": {"source": "synthetic", "images": n, "image_size": size},
        # Tests and demos use small photos: only the resolution floor is relaxed.
        "quality_gate": {"min_side_px": size},
    }
    detector = tiny_ood_detector(model, images, labels, seed=seed) if ood else None
    return export_bundle(model, out_dir, meta=meta, ood=detector)


def tiny_ood_detector(model, images: np.ndarray, labels: np.ndarray, *, seed: int = 0) -> dict:
    """Train the not-a-lesion lesion gate for the tiny bundle (`export_bundle`'s ``ood``), as the
    clinical evaluation does for a run on synthetic data, at its cheapest: the training lesions and the
    fit part of the shipped dermoscopy sample against synthetic non-lesion images and crops of real
    photographs; the threshold rejects at most 5 % of fresh synthetic lesions, never below 0.5."""
    from melanoma_exp.data.nonlesion import non_lesion_images
    from melanoma_exp.evaluation.ood_gate import LesionGate, photo_crops
    from melanoma_exp.evaluation.ood_lesions import load_images, sample_split, training_views

    size = images.shape[1]
    rng = np.random.default_rng(seed)
    sample = sample_split(project_root() / "samples" / "isic_uda1", 0.6, 0)
    # As many views of the few tiny training images as there are real ones: a synthetic run's lesions.
    own_views = max(1, round(len(sample.fit) / len(images)))
    lesions = np.concatenate([training_views(images, own_views, rng, lesion=True),
                              training_views(load_images(sample.fit, size), 1, rng, lesion=True)])
    held_out, _ = synthetic_arrays(len(images), size, seed + 1)
    synthetic, _ = non_lesion_images(2 * len(images), size, seed=seed)
    crops, _ = photo_crops(real_photos(), size, 4, seed=seed)
    gate = LesionGate.train(lesions, training_views(np.concatenate([synthetic, crops]), 1, rng, lesion=False),
                            size=64)
    gate.fit_threshold(held_out.astype("float32"), 0.05, 0.5)
    gate.meta["lesion_source"] = (f"real: samples/isic_uda1 ({len(sample.fit)} images) + synthetic: "
                                  f"{len(images)} tiny training images")
    return {"detector": gate.to_dict()}


def main(argv: list[str] | None = None) -> int:
    """CLI entry: ``python -m melanoma_exp.export.tiny_bundle --out DIR [--size 64]``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="bundle folder to write")
    parser.add_argument("--size", type=int, default=64, help="input height and width (default 64)")
    parser.add_argument("--version", default="0", help="version string written into model.json")
    parser.add_argument("--ood", action="store_true", help="add the not-a-lesion check (ood.tflite)")
    args = parser.parse_args(argv)
    if args.size < 16:
        parser.error(f"--size must be at least 16, got {args.size}")
    out = make_tiny_bundle(args.out, args.size, version=args.version, ood=args.ood)
    print(f"tiny bundle written to {out}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.exit(main())
