"""Test-time augmentation (TTA): average the prediction over flips and rotations of the image.

A dermoscopic lesion has no "up", so a flipped or rotated copy is an equally valid view; averaging
the views removes some orientation noise at k× the inference cost. Usable as a NumPy function over
any ``predict`` callable (evaluation) and as a Keras wrapper model (`melanoma export --tta`: the
bundle then needs no change, the model simply does the k views inside).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np

from melanoma_exp.schema import TTA_TRANSFORMS

TRANSFORMS = TTA_TRANSFORMS


def check_transforms(transforms: Sequence[str]) -> list[str]:
    """The names as a list; ValueError naming the unknown ones (or none given)."""
    unknown = [t for t in transforms if t not in TRANSFORMS]
    if unknown or not transforms:
        raise ValueError(f"unknown transform(s) {unknown or '(none given)'}. Known: {', '.join(TRANSFORMS)}")
    return list(transforms)


def transform_numpy(images: np.ndarray, name: str) -> np.ndarray:
    """Apply one dihedral transform to a batch (N, H, W, C)."""
    x = np.asarray(images)
    return {
        "identity": lambda: x,
        "hflip": lambda: x[:, :, ::-1],
        "vflip": lambda: x[:, ::-1],
        "rot90": lambda: np.rot90(x, 1, axes=(1, 2)),
        "rot180": lambda: np.rot90(x, 2, axes=(1, 2)),
        "rot270": lambda: np.rot90(x, 3, axes=(1, 2)),
        "transpose": lambda: np.swapaxes(x, 1, 2),
        "antitranspose": lambda: np.rot90(np.swapaxes(x, 1, 2), 2, axes=(1, 2)),
    }[name]()


def tta_predict(predict: Callable[[np.ndarray], np.ndarray], images, transforms: Sequence[str]) -> np.ndarray:
    """Mean malignant probability over the transformed views; returns shape (N,)."""
    x = np.asarray(images, dtype=np.float32)
    views = [np.asarray(predict(np.ascontiguousarray(transform_numpy(x, t))), dtype=float).reshape(len(x), -1)[:, -1]
             for t in check_transforms(transforms)]
    return np.mean(views, axis=0)


def transform_tensor(x, name: str):
    """One dihedral transform of a (N, H, W, C) tensor with Keras ops (symbolic or eager).

    Only transpose and reverse with static axes (as numpy.rot90 does): they keep the static shape,
    which the LiteRT converter needs to lower the convolutions that follow. Called on a symbolic
    input they become plain operation nodes of a functional model, so a saved TTA model loads with
    Keras alone (no custom layer to import).
    """
    from keras import ops

    def swap(t):
        return ops.transpose(t, (0, 2, 1, 3))

    return {
        "identity": lambda: x,
        "hflip": lambda: ops.flip(x, axis=2),
        "vflip": lambda: ops.flip(x, axis=1),
        "rot90": lambda: swap(ops.flip(x, axis=2)),
        "rot180": lambda: ops.flip(ops.flip(x, axis=1), axis=2),
        "rot270": lambda: ops.flip(swap(x), axis=2),
        "transpose": lambda: swap(x),
        "antitranspose": lambda: ops.flip(ops.flip(swap(x), axis=1), axis=2),
    }[name]()


SWAPPING = ("rot90", "rot270", "transpose", "antitranspose")  # swap height and width


def tta_model(model, transforms: Sequence[str], name: str | None = None):
    """Wrap a classifier so it returns the mean over the transformed views (same input/output).

    Raises:
        ValueError: an unknown transform, or a rotation/transpose of a non-square input.
    """
    import keras

    transforms = check_transforms(transforms)
    shape = tuple(model.inputs[0].shape[1:])
    swapping = [t for t in transforms if t in SWAPPING]
    if swapping and shape[0] != shape[1]:
        raise ValueError(f"TTA transform(s) {swapping} need a square model input; {model.name!r} takes "
                         f"{shape[0]}x{shape[1]}")
    inputs = keras.Input(shape=shape, name="image")
    outs = [model(transform_tensor(inputs, t)) for t in transforms]
    out = outs[0] if len(outs) == 1 else keras.layers.Average(name="tta_mean")(outs)
    return keras.Model(inputs, out, name=name or f"{model.name}_tta")


def measure_tta(model, images, labels, transforms: Sequence[str], threshold: float = 0.5) -> dict:
    """Accuracy/AUC gain and latency cost of TTA on the same images.

    Latency is the median wall time of a batch-1 call (after a warm-up), in milliseconds.
    """
    from sklearn.metrics import accuracy_score, roc_auc_score

    y = np.asarray(labels).astype(int).ravel()
    x = np.asarray(images, dtype=np.float32)
    wrapped = tta_model(model, transforms)
    result = {"transforms": list(transforms)}
    for key, m in (("plain", model), ("tta", wrapped)):
        p = np.asarray(m.predict(x, verbose=0)).ravel()
        auc = float(roc_auc_score(y, p)) if 0 < y.sum() < y.size else float("nan")
        m.predict_on_batch(x[:1])  # warm-up: graph build is not inference latency
        times = []
        for i in range(min(len(x), 10)):
            t0 = time.perf_counter()
            m.predict_on_batch(x[i : i + 1])
            times.append(1000 * (time.perf_counter() - t0))
        result[key] = {"accuracy": float(accuracy_score(y, p >= threshold)), "auc": auc,
                       "latency_ms": float(np.median(times))}
    result["accuracy_gain"] = result["tta"]["accuracy"] - result["plain"]["accuracy"]
    result["latency_factor"] = result["tta"]["latency_ms"] / max(result["plain"]["latency_ms"], 1e-9)
    return result
