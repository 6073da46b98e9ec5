"""Not-a-lesion methods side by side on one split: which check the bundle should ship.

Every method gets the same images: training lesions (and, for the methods that use outlier exposure,
the fit-side non-lesion images: synthetic families + crops of the fit sources' real photos), its
threshold from the validation lesions (at most ``max_lesion_rejection`` rejected), and is then scored
on what no fit saw: test lesions, fresh synthetic lesions from another generator seed and size, the
held-out sources' real photographs and fresh synthetic non-lesion images.

Methods (higher score = less like a lesion photo):
- ``mahalanobis`` — Mahalanobis distance of the pooled backbone features (Lee et al., 2018).
- ``multi_layer_mahalanobis`` — one Mahalanobis distance per backbone stage (the last layer at each
  spatial resolution), combined by a logistic regression fitted with outlier exposure (Lee et al.).
- ``energy`` — the classifier's energy score −log Σ exp(logits) (Liu et al., 2020); a sigmoid output
  is the two-logit case (0, z).
- ``feature_head`` — a logistic-regression head on the pooled backbone features, trained lesions vs
  fit-side non-lesions (outlier exposure on the classifier's features).
- ``lesion_gate`` — the gate of `ood_gate` (frozen ImageNet EfficientNet-Lite0 features of the image
  itself, not the classifier's, and a read-out trained with outlier exposure on real lesions).
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from melanoma_exp.evaluation.ood_gate import predict_in_chunks, rates, threshold_for

METHODS = ("mahalanobis", "multi_layer_mahalanobis", "energy", "feature_head", "lesion_gate")


def one_pass_model(model, n_stages: int = 4):
    """One Keras model for every feature-space method: image -> [pooled features of the last
    ``n_stages`` backbone stages..., pooled backbone output, the classifier's probability].

    A stage ends at the last 4-D layer of each spatial resolution inside the nested ``backbone``. The
    classifier's own layers before and after the backbone are re-applied in order (the trainer's
    classifier is a chain: normalisation -> backbone -> head), so one forward pass feeds all methods.
    """
    import keras

    backbone = model.get_layer("backbone")
    if not isinstance(backbone, keras.Model):  # a plain layer named backbone: stages of the classifier
        return _flat_one_pass_model(model, n_stages)
    at = model.layers.index(backbone)
    names = _stage_names(backbone.layers, n_stages)
    inner = keras.Model(backbone.inputs, [*(backbone.get_layer(n).output for n in names), backbone.output])
    image = keras.Input(model.inputs[0].shape[1:], dtype="float32")
    x = image
    for layer in model.layers[1:at]:
        x = layer(x)
    *maps, top = inner(x)
    y = top
    for layer in model.layers[at + 1:]:
        y = layer(y)
    pooled = [keras.layers.GlobalAveragePooling2D()(m) for m in (*maps, top)]
    return keras.Model(image, [*pooled, y], name="ood_one_pass")


def _stage_names(layers, n_stages: int) -> list[str]:
    last_at: dict[int, str] = {}
    for layer in layers:
        shape = layer.output.shape if getattr(layer, "output", None) is not None else None
        if shape is not None and len(shape) == 4:
            last_at[int(shape[1])] = layer.name
    return [last_at[r] for r in sorted(last_at, reverse=True)][-n_stages:]


def _flat_one_pass_model(model, n_stages: int):
    """`one_pass_model` for a classifier whose ``backbone`` is a single layer (no nested model)."""
    import keras

    backbone = model.get_layer("backbone")
    layers = model.layers[:model.layers.index(backbone) + 1]
    maps = [model.get_layer(n).output for n in _stage_names(layers, n_stages)]
    pooled = [keras.layers.GlobalAveragePooling2D()(m) for m in (*maps, backbone.output)]
    return keras.Model(model.inputs, [*pooled, model.outputs[0]], name="ood_one_pass")


def per_set(fn, sets: dict, keys) -> dict:
    """``{key: fn(sets[key])}`` with one call of ``fn`` on all of them (one graph, big batches)."""
    arrays = [np.asarray(sets[k], np.float32) for k in keys]
    out = fn(np.concatenate(arrays))
    bounds = np.cumsum([0, *(len(a) for a in arrays)])
    return {k: out[bounds[i]:bounds[i + 1]] for i, k in enumerate(keys)}


def _energy(probabilities) -> np.ndarray:
    p = np.clip(np.asarray(probabilities, np.float64).reshape(-1), 1e-7, 1 - 1e-7)
    z = np.log(p / (1 - p))
    return -np.logaddexp(0.0, z)  # energy of the logits (0, z); in-distribution = low energy


def compare_methods(model, sets: dict, *, layer: str, n_components: int, max_lesion_rejection: float,
                    gate, seed: int = 0) -> list[dict]:
    """One row per method of `METHODS`: rates at its threshold on every held-out set, fit seconds.

    Args:
        model: the trained classifier.
        sets: image arrays ``train`` + ``train_labels`` (lesions), ``val``, ``test``, ``fresh`` (lesions),
            ``fit_non_lesion``, ``held_out_photos`` (centre views), ``held_out_crops``,
            ``held_out_synthetic`` (non-lesions).
        gate: the already trained `LesionGate` (trained on the same fit-side images).
    """
    from melanoma_exp.evaluation.ood import MahalanobisOOD, feature_extractor

    keys = ("val", "test", "fresh", "held_out_photos", "held_out_crops", "held_out_synthetic")
    rows = []

    def row(name, scores: dict, seconds):
        thr = threshold_for(scores["val"], max_lesion_rejection)
        photos = rates(scores["test"], scores["held_out_photos"], thr)
        crops = rates(scores["test"], scores["held_out_crops"], thr)
        rows.append({
            "method": name,
            "auroc_test_vs_held_out_crops": crops.get("auroc"),
            "held_out_photo_detection_rate": photos.get("non_lesion_detection_rate"),
            "held_out_crop_detection_rate": crops.get("non_lesion_detection_rate"),
            "held_out_synthetic_detection_rate": float(np.mean(scores["held_out_synthetic"] >= thr)),
            "val_lesion_rejection_rate": float(np.mean(scores["val"] >= thr)),
            "test_lesion_rejection_rate": float(np.mean(scores["test"] >= thr)),
            "fresh_lesion_rejection_rate": float(np.mean(scores["fresh"] >= thr)),
            "fit_seconds": round(seconds, 1),
        })

    # Every image goes through the classifier once; each method then only fits and scores features.
    t0 = time.perf_counter()
    every = ("train", "fit_non_lesion", *keys)
    arrays = [np.asarray(sets[k], np.float32) for k in every]
    outputs = predict_in_chunks(one_pass_model(model), np.concatenate(arrays), batch_size=128)
    bounds = np.cumsum([0, *(len(a) for a in arrays)])
    split = [{k: np.asarray(o)[bounds[i]:bounds[i + 1]] for i, k in enumerate(every)} for o in outputs]
    *stage_feats, feats, probs = split
    if layer != "backbone":  # another feature layer was configured: embed with it
        embed_model = feature_extractor(model, layer)
        feats = per_set(lambda x: embed_model.predict(x, verbose=0, batch_size=128), sets, every)
    pass_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    maha = MahalanobisOOD(n_components=n_components).fit(feats["train"], sets["train_labels"])
    row("mahalanobis", {k: maha.score(feats[k]) for k in keys}, pass_seconds + time.perf_counter() - t0)

    t0 = time.perf_counter()
    per_stage = [MahalanobisOOD(n_components=n_components).fit(f["train"], sets["train_labels"]) for f in stage_feats]
    stage_scores = {k: np.stack([d.score(f[k]) for d, f in zip(per_stage, stage_feats, strict=True)], axis=1)
                    for k in every}
    combine = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    combine.fit(np.r_[stage_scores["train"], stage_scores["fit_non_lesion"]],
                np.r_[np.zeros(len(sets["train"])), np.ones(len(sets["fit_non_lesion"]))])
    row("multi_layer_mahalanobis", {k: combine.predict_proba(stage_scores[k])[:, 1] for k in keys},
        pass_seconds + time.perf_counter() - t0)

    row("energy", {k: _energy(probs[k]) for k in keys}, pass_seconds)

    t0 = time.perf_counter()
    head = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
    head.fit(np.r_[feats["train"], feats["fit_non_lesion"]],
             np.r_[np.zeros(len(feats["train"])), np.ones(len(feats["fit_non_lesion"]))])
    row("feature_head", {k: head.predict_proba(feats[k])[:, 1] for k in keys},
        pass_seconds + time.perf_counter() - t0)

    row("lesion_gate", per_set(gate.score, sets, keys), float((gate.meta or {}).get("fit_seconds", 0.0)))
    return rows


def comparison_markdown(rows: list[dict], chosen: str) -> list[str]:
    """The comparison as a Markdown table (model card, docs)."""

    def pct(v):
        return "n/a" if v is None else f"{100 * v:.0f}%"

    lines = ["| method | AUROC | held-out real photos caught | held-out crops caught | fresh synthetic non-lesions "
             "caught | val lesions rejected | test lesions rejected | fresh lesions rejected |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        name = f"**{r['method']}** (shipped)" if r["method"] == chosen else r["method"]
        auroc = "n/a" if r["auroc_test_vs_held_out_crops"] is None else f"{r['auroc_test_vs_held_out_crops']:.3f}"
        lines.append(f"| {name} | {auroc} | {pct(r['held_out_photo_detection_rate'])} | "
                     f"{pct(r['held_out_crop_detection_rate'])} | {pct(r['held_out_synthetic_detection_rate'])} | "
                     f"{pct(r['val_lesion_rejection_rate'])} | {pct(r['test_lesion_rejection_rate'])} | "
                     f"{pct(r['fresh_lesion_rejection_rate'])} |")
    return lines


METHOD_TEXT = {
    "lesion_gate": "a separate gate (frozen ImageNet EfficientNet-Lite0 features and a logistic read-out) trained to "
                   "tell lesion photos from non-lesion images (outlier exposure)",
    "mahalanobis": "Mahalanobis distance of the classifier's backbone features to the training lesions",
}


def ood_card_lines(ood: dict) -> list[str]:
    """Model-card lines for report.json's ``clinical.ood`` (or model.json's summary of it)."""
    h = ood["held_out"]

    def pct(key):
        return "n/a" if h.get(key) is None else f"{100 * h[key]:.0f}%"

    sources = ", ".join(h.get("sources") or []) or "none"
    lines = [f"Method: {METHOD_TEXT.get(ood['method'], ood['method'])}. Measured on sources no fit saw "
             f"(real photographs from: {sources}): {pct('real_photo_detection_rate')} of "
             f"{h.get('n_real_photos', 0)} real non-lesion photos flagged \"not a lesion\" "
             f"({pct('real_crop_detection_rate')} of their crops, {pct('synthetic_detection_rate')} of fresh "
             f"synthetic non-lesion images), while {pct('lesion_rejection_rate')} of test lesions and "
             f"{pct('fresh_lesion_rejection_rate')} of fresh synthetic lesions are rejected "
             f"(AUROC {h['auroc']:.3f}; threshold from validation lesions, at most "
             f"{100 * ood['fit']['max_lesion_rejection']:.0f}% rejected"
             + (f", never below {ood['fit']['min_threshold']:.2f}" if ood["fit"].get("min_threshold") else "") + ")."]
    fit = ood.get("fit") or {}
    if fit.get("lesion_source"):
        lines.append(f"Lesions it learnt from: {fit['lesion_source']}.")
    if h.get("real_lesion_rejection_rate") is not None:
        lines.append(f"Real lesions the fit never saw ({h.get('real_lesions')}): {pct('real_lesion_rejection_rate')} "
                     f"rejected; {pct('real_small_rejection_rate')} of them as 224 px images, "
                     f"{pct('real_colour_rejection_rate')} with strong colour casts.")
    elif fit.get("lesion_source", "").startswith("synthetic"):
        lines.append("**No real lesion was measured: this check may turn real skin lesions away.**")
    if h.get("missed_real_photos"):
        lines.append(f"Held-out real photos it missed: {', '.join(h['missed_real_photos'])}.")
    if ood.get("comparison"):
        lines += ["", "Methods compared on the same split:", "",
                  *comparison_markdown(ood["comparison"], ood["method"])]
    return lines
