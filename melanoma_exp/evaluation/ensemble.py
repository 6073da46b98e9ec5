"""Soft-voting ensembles as one Keras model, so export, serving and the app need no change.

Every member takes the same plain 0–255 RGB input (each family's normalisation is a layer inside
it), so the ensemble is: one input → each member → (weighted) mean of the malignant probabilities →
logit → ``Dense(1, sigmoid)`` (identity until calibrated). That last layer makes the ensemble end like
a single trained model, so its own temperature folds in with `calibration.fold_temperature` and is
carried into the registered model and the bundle the same way. Built from standard Keras layers and
ops only, so it saves as `.keras` and converts to LiteRT like any model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from melanoma_exp.evaluation.calibration import _EPS  # keeps logit(p) finite for saturated members


def _check_members(members) -> tuple:
    if len(members) < 1:
        raise ValueError("an ensemble needs at least one member model")
    shapes = {tuple(m.inputs[0].shape[1:]) for m in members}
    if len(shapes) != 1:
        raise ValueError(
            f"ensemble members must share one input shape; got {sorted(shapes)}. "
            "Re-export them at the same data.image_size."
        )
    for i, m in enumerate(members):
        if tuple(m.outputs[0].shape[1:]) != (1,):
            raise ValueError(f"member {i} ({m.name}) outputs {m.outputs[0].shape}, expected (None, 1)")
    return shapes.pop()


def normalise_weights(weights: Sequence[float] | None, n: int) -> np.ndarray:
    """Weights summing to one (equal when None); rejects negatives or a wrong count."""
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != (n,) or np.any(w < 0) or w.sum() <= 0:
        raise ValueError(f"ensemble weights must be {n} non-negative numbers with a positive sum; got {weights}")
    return w / w.sum()


def build_ensemble(members, weights: Sequence[float] | None = None, name: str = "ensemble"):
    """Soft-voting ensemble model.

    Args:
        members: Keras models with input (H, W, 3) 0–255 and sigmoid output (None, 1).
        weights: optional non-negative weights (normalised to sum to one).
        name: model name.

    Returns:
        A Keras model with the members' input shape whose output is the weighted mean probability.
    """
    import keras

    shape = _check_members(members)
    w = normalise_weights(weights, len(members))
    inputs = keras.Input(shape=shape, name="image")
    # Each member is wrapped under a unique name: two copies of one registered model have the
    # same layer names, which a functional model would reject.
    outputs = [
        keras.Model(m.inputs[0], m.outputs[0], name=f"member_{i}")(inputs) for i, m in enumerate(members)
    ]
    if len(outputs) == 1:
        mean = outputs[0]
    else:
        stacked = keras.layers.Concatenate(name="member_probabilities")(outputs)
        vote = keras.layers.Dense(1, use_bias=False, trainable=False, name="soft_vote")
        mean = vote(stacked)
        vote.set_weights([w.reshape(-1, 1).astype("float32")])
    return keras.Model(inputs, _probability_head(mean), name=name)


def _probability_head(probability):
    """``sigmoid(logit(p))``: the identity on p, ending in the one-unit sigmoid Dense that
    temperature scaling divides (kernel 1/T: ``sigmoid(logit(p) / T)``)."""
    import keras
    from keras import ops

    p = ops.clip(probability, _EPS, 1.0 - _EPS)
    logit = ops.log(p) - ops.log(1.0 - p)
    head = keras.layers.Dense(1, activation="sigmoid", trainable=False, name="ensemble_probability")
    out = head(logit)
    head.set_weights([np.ones((1, 1), "float32"), np.zeros((1,), "float32")])
    return out


def compare_members(ensemble, members, images, labels, threshold: float = 0.5) -> dict:
    """AUC and accuracy of the ensemble and each member on the same images.

    Returns:
        ``{"ensemble": {...}, "members": [{...}, ...]}`` with ``auc`` and ``accuracy`` each.
    """
    from sklearn.metrics import accuracy_score, roc_auc_score

    y = np.asarray(labels).astype(int).ravel()

    def scores(model):
        p = np.asarray(model.predict(images, verbose=0)).ravel()
        auc = float(roc_auc_score(y, p)) if 0 < y.sum() < y.size else float("nan")
        return {"auc": auc, "accuracy": float(accuracy_score(y, p >= threshold))}

    return {"ensemble": scores(ensemble), "members": [scores(m) for m in members]}
