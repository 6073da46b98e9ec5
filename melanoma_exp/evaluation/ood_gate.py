"""The lesion gate: an explicit "is this a photo of a skin lesion?" check trained with outlier exposure.

A separate tiny CNN on the classifier's own input (resized inside to ``gate_size``), trained on
lesions (the run's training split) against non-lesion images: crops of real photographs shipped in
installed packages (`melanoma_exp.data.real_photos`) and the synthetic families of
`melanoma_exp.data.nonlesion` (noise, flat colours, scenes, plain skin, rash, text, faces). Outlier
exposure (Hendrycks et al., 2019) is what the field does when some outliers can be shown; a separate
model instead of a head on the classifier's features because a classifier trained on few lesions has
features that know nothing about the rest of the world (docs/evaluation.md has the measured
comparison).

Its output is the not-a-lesion probability; the threshold is the value that rejects at most
``max_lesion_rejection`` of the validation lesions. Real photographs are split **by source** (a whole
package on one side): the gate is fitted on some packages' photos and its detection rate is reported
on the other packages' photos, which it never saw.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from sklearn.metrics import roc_auc_score

from melanoma_exp.data.imageops import load_resized
from melanoma_exp.data.real_photos import SOURCES, real_photos


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


def _augment(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Random rot90/mirror and a ±20 % exposure change per image (square images)."""
    out = np.empty_like(images)
    for i, img in enumerate(images):
        img = np.rot90(img, int(rng.integers(4)))
        out[i] = (img[:, ::-1] if rng.random() < 0.5 else img) * rng.uniform(0.8, 1.2)
    return np.clip(out, 0, 255)


def _vignette(images: np.ndarray, rng: np.random.Generator, share: float) -> np.ndarray:
    """``share`` of the images (square) blacked out outside a centred circle, as a dermoscope's field."""
    out = images.copy()
    side = images.shape[1]
    yy, xx = (np.mgrid[0:side, 0:side] - (side - 1) / 2) / (side / 2)
    rho = np.hypot(yy, xx)
    for i in np.flatnonzero(rng.random(len(images)) < share):
        radius = rng.uniform(0.8, 1.3)
        out[i] *= np.clip((radius - rho) / 0.08, 0, 1)[..., None]
    return out


def build_gate(height: int, width: int, gate_size: int = 32, name: str = "lesion_gate"):
    """The gate network: image (0-255, the classifier's input size) -> not-a-lesion probability (B, 1)."""
    import keras

    inputs = keras.Input((height, width, 3), dtype="float32", name="image")
    x = keras.layers.Resizing(gate_size, gate_size, interpolation="bilinear", name="gate_resize")(inputs)
    x = keras.layers.Rescaling(1.0 / 255.0, name="gate_scale")(x)
    for i, filters in enumerate((16, 32, 64)):
        x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"gate_conv{i}")(x)
        x = keras.layers.MaxPooling2D(name=f"gate_pool{i}")(x)
    # Mean and max pooling: "is there one lesion-like blob anywhere" and "what does the whole look like".
    pooled = keras.layers.Concatenate(name="gate_pooled")([keras.layers.GlobalAveragePooling2D()(x),
                                                           keras.layers.GlobalMaxPooling2D()(x)])
    outputs = keras.layers.Dense(1, activation="sigmoid", name="not_a_lesion")(pooled)
    return keras.Model(inputs, outputs, name=name)


@dataclass
class LesionGate:
    """The trained gate network, its threshold and what it achieved (JSON round trip for the bundle)."""

    model: object
    threshold: float | None = None
    meta: dict | None = None

    @classmethod
    def train(cls, lesions: np.ndarray, non_lesions: np.ndarray, *, gate_size: int = 32, epochs: int = 12,
              members: int = 1, batch_size: int = 64, learning_rate: float = 3e-3, seed: int = 0) -> LesionGate:
        """Fit the gate on lesion images (label 0) against non-lesion images (label 1), balanced.

        With ``members`` > 1 that many gates are trained from different seeds (and augmentations)
        and the model averages their probabilities: one gate's verdict on an unseen kind of photo
        depends on its seed more than an average of three does (docs/evaluation.md).
        """
        import keras

        nets = [cls._fit_one(lesions, non_lesions, gate_size, epochs, batch_size, learning_rate, seed + k,
                             name=f"lesion_gate_{k}") for k in range(members)]
        if members == 1:
            model = nets[0]
        else:
            image = keras.Input(nets[0].inputs[0].shape[1:], dtype="float32", name="image")
            model = keras.Model(image, keras.layers.Average(name="not_a_lesion")([net(image) for net in nets]),
                                name="lesion_gate")
        return cls(model=model, meta={"n_lesion": int(len(lesions)), "n_non_lesion": int(len(non_lesions)),
                                      "gate_size": gate_size, "epochs": epochs, "members": members})

    @staticmethod
    def _fit_one(lesions, non_lesions, gate_size, epochs, batch_size, learning_rate, seed, name):
        import keras

        keras.utils.set_random_seed(seed)
        rng = np.random.default_rng(seed)
        lesions = np.asarray(lesions, np.float32)
        # Each lesion twice, in two random orientations and exposures: a lesion has no "up", and a
        # phone photo is brighter or darker than a dermoscope's; the gate must not learn either.
        # A third of the non-lesions get a dermoscope's round black field: a dark vignette alone must
        # not make a photo look like a lesion (a fundus photo has one too).
        others = _vignette(np.asarray(non_lesions, np.float32), rng, share=1 / 3)
        x = np.concatenate([lesions, lesions, others])
        y = np.r_[np.zeros(2 * len(lesions)), np.ones(len(others))].astype(np.float32)
        x = _augment(x, rng)
        model = build_gate(x.shape[1], x.shape[2], gate_size, name=name)
        model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="binary_crossentropy")
        weights = {0: len(y) / (2.0 * max(1, (y == 0).sum())), 1: len(y) / (2.0 * max(1, (y == 1).sum()))}
        model.fit(x, y, epochs=epochs, batch_size=batch_size, shuffle=True, class_weight=weights, verbose=0)
        return model

    def score(self, images) -> np.ndarray:
        """Not-a-lesion probability per image (higher = less like a lesion photo)."""
        return self.model.predict(np.asarray(images, np.float32), verbose=0, batch_size=256).reshape(-1)

    def fit_threshold(self, lesion_images, max_lesion_rejection: float) -> float:
        """The threshold that calls at most ``max_lesion_rejection`` of these lesions "not a lesion"."""
        self.threshold = threshold_for(self.score(lesion_images), max_lesion_rejection)
        return self.threshold

    def to_dict(self) -> dict:
        """JSON-ready: the Keras model's config and weights (a few thousand numbers), threshold, meta."""
        import keras

        return {"method": "lesion_gate", "threshold": self.threshold, "meta": self.meta or {},
                "model_config": keras.saving.serialize_keras_object(self.model),
                "weights": [w.tolist() for w in self.model.get_weights()]}

    @classmethod
    def from_dict(cls, d: dict) -> LesionGate:
        """Inverse of ``to_dict``."""
        import keras

        if d.get("method") != "lesion_gate":
            raise ValueError(f"OOD method {d.get('method')!r} is not 'lesion_gate'")
        model = keras.saving.deserialize_keras_object(d["model_config"])
        model.set_weights([np.asarray(w, np.float32) for w in d["weights"]])
        return cls(model=model, threshold=d["threshold"], meta=dict(d.get("meta") or {}))


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
    """The non-lesion images of one fit, split by source, and fresh lesions (see the module docstring).

    Args:
        size: the classifier's input side.
        ood_cfg: the ``eval.ood`` node (``n_non_lesion``, ``held_out_sources``, ``crops_per_photo``,
            ``fresh_lesions``).
        seed: the evaluation seed.

    Returns:
        ``fit_non_lesion`` (synthetic families + crops of the fit sources' photos), ``held_out_photos``
        (centre views of the held-out sources' photos) with ``held_out_photo_names``,
        ``held_out_crops``, ``held_out_synthetic`` (fresh synthetic families, another seed),
        ``fresh`` (lesions), and ``fit_sources``/``held_out_sources``.
    """
    from melanoma_exp.data.nonlesion import non_lesion_images

    held = tuple(ood_cfg.held_out_sources or ())
    fit_sources = tuple(s for s in SOURCES if s not in held)
    n_non, per_photo = int(ood_cfg.n_non_lesion), int(ood_cfg.crops_per_photo)
    synthetic, _ = non_lesion_images(n_non, size, seed=seed + 101)
    fit_crops, _ = photo_crops(real_photos(fit_sources), size, per_photo, seed=seed + 1) if fit_sources else (
        np.zeros((0, size, size, 3), np.float32), [])
    held_photos = real_photos(held) if held else []
    crops, names = photo_crops(held_photos, size, per_photo, seed=seed + 2) if held_photos else (
        np.zeros((0, size, size, 3), np.float32), [])
    held_synthetic, kinds = non_lesion_images(n_non, size, seed=seed + 202)
    fresh = ood_cfg.fresh_lesions
    return {
        "fit_non_lesion": np.concatenate([synthetic, fit_crops]),
        "held_out_photos": crops[::per_photo], "held_out_photo_names": names[::per_photo],
        "held_out_crops": crops, "held_out_synthetic": held_synthetic, "held_out_synthetic_kinds": kinds,
        "fresh": fresh_lesions(int(fresh.n), int(fresh.render_size), size, int(fresh.seed)),
        "fit_sources": list(fit_sources), "held_out_sources": list(held),
    }
