"""The model-dependent parts of the clinical report: phone-photo robustness, the not-a-lesion (OOD)
detector and test-time augmentation. Each returns a JSON-ready section for report.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from melanoma_exp.evaluation.tta import measure_tta


def images_from_dataset(dataset, limit: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Up to ``limit`` (images, labels) from a batched tf.data dataset of ``(images, labels)``."""
    xs, ys, n = [], [], 0
    for images, labels in dataset:
        xs.append(np.asarray(images))
        ys.append(np.asarray(labels).ravel())
        n += len(xs[-1])
        if limit is not None and n >= limit:
            break
    if not xs:
        return np.zeros((0,)), np.zeros((0,))
    return np.concatenate(xs)[:limit], np.concatenate(ys)[:limit]


def robustness_section(model, images, threshold: float, eval_cfg: Any, out_dir=None) -> dict:
    """`robustness.robustness_report` of the (served) model on test images, plus its plot."""
    from melanoma_exp.evaluation.robustness import plot_robustness, robustness_report

    limit = int(eval_cfg.robustness.max_images)
    report = robustness_report(lambda x: model.predict(x, verbose=0), np.asarray(images)[:limit], threshold,
                               seed=int(eval_cfg.seed))
    if out_dir is not None:
        report["plot"] = str(plot_robustness(report, Path(out_dir) / "robustness.png"))
    return report


def ood_section(model, train, val, test, eval_cfg: Any = None, out_dir=None) -> dict:
    """Fit the not-a-lesion check (``eval.ood.method``) and report it on sources no fit saw.

    Args:
        model: the classifier (features for the feature-space methods come from ``eval.ood.layer``).
        train: (images, labels) of training lesions — what a lesion looks like.
        val: validation lesion images — they fix the threshold (``eval.ood.max_lesion_rejection``).
        test: test lesion images — with fresh synthetic lesions, the held-out lesion rejection.
        eval_cfg: the ``eval`` node.
        out_dir: where ``ood.json`` (the detector for the bundle) and ``ood_scores.png`` go.

    Non-lesion images are split by source (`ood_gate.ood_image_sets`): synthetic families and the
    real photographs of the fit sources train the outlier-exposure methods; the held-out sources'
    photographs and fresh synthetic families measure them. With ``eval.ood.compare`` every method of
    `ood_compare.METHODS` is fitted on the same split and the table goes into ``comparison``.

    Returns:
        ``{"method", "threshold", "fit", "held_out", "comparison", "detector_file", ...}``; the detector
        itself is written to ``ood.json``.
    """
    import time

    from melanoma_exp.evaluation.ood import MahalanobisOOD, feature_extractor
    from melanoma_exp.evaluation.ood_compare import compare_methods, per_set
    from melanoma_exp.evaluation.ood_gate import LesionGate, ood_image_sets, rates, threshold_for

    ood_cfg, seed = eval_cfg.ood, int(eval_cfg.seed)
    method, max_rejection = str(ood_cfg.method), float(ood_cfg.max_lesion_rejection)
    if method not in ("lesion_gate", "mahalanobis"):
        raise ValueError(f"eval.ood.method={method!r}: must be lesion_gate or mahalanobis")
    size = int(model.inputs[0].shape[1])
    sets = {"train": np.asarray(train[0], np.float32), "train_labels": np.asarray(train[1]),
            "val": np.asarray(val, np.float32), "test": np.asarray(test, np.float32),
            **ood_image_sets(size, ood_cfg, seed)}
    gate = None
    if method == "lesion_gate" or ood_cfg.compare:
        t0 = time.perf_counter()
        gate = LesionGate.train(sets["train"], sets["fit_non_lesion"], gate_size=int(ood_cfg.gate.size),
                                epochs=int(ood_cfg.gate.epochs), members=int(ood_cfg.gate.members), seed=seed)
        gate.meta["fit_seconds"] = round(time.perf_counter() - t0, 1)
        gate.fit_threshold(sets["val"], max_rejection)
    if method == "lesion_gate":
        detector, score = gate, gate.score
    else:
        features = feature_extractor(model, str(ood_cfg.layer))
        embed = lambda x: features.predict(np.asarray(x, np.float32), verbose=0)  # noqa: E731
        detector = MahalanobisOOD(n_components=int(ood_cfg.n_components)).fit(embed(sets["train"]), sets["train_labels"])
        score = lambda x: detector.score(embed(x))  # noqa: E731
        detector.threshold = threshold_for(score(sets["val"]), max_rejection)
    threshold = float(detector.threshold)
    s = per_set(score, sets, ("val", "test", "fresh", "held_out_photos", "held_out_crops", "held_out_synthetic"))
    non_lesion = np.r_[s["held_out_crops"], s["held_out_synthetic"]]
    held_out = rates(s["test"], non_lesion, threshold)
    held_out.update({
        "real_photo_detection_rate": float(np.mean(s["held_out_photos"] >= threshold)) if len(s["held_out_photos"]) else None,
        "n_real_photos": int(len(s["held_out_photos"])),
        "real_crop_detection_rate": float(np.mean(s["held_out_crops"] >= threshold)) if len(s["held_out_crops"]) else None,
        "synthetic_detection_rate": float(np.mean(s["held_out_synthetic"] >= threshold)),
        "fresh_lesion_rejection_rate": float(np.mean(s["fresh"] >= threshold)),
        "n_fresh_lesions": int(len(s["fresh"])),
        "missed_real_photos": [n for n, v in zip(sets["held_out_photo_names"], s["held_out_photos"], strict=True)
                               if v < threshold],
        "sources": sets["held_out_sources"],
    })
    fit = {"lesion_rejection_rate": float(np.mean(s["val"] >= threshold)), "max_lesion_rejection": max_rejection,
           "n_lesion": int(len(s["val"])), "sources": sets["fit_sources"],
           "n_non_lesion": int(len(sets["fit_non_lesion"]))}
    detector.meta["threshold_fit"] = fit
    section = {"method": method, "threshold": threshold, "fit": fit, "held_out": held_out, "detector_file": None,
               "comparison": None}
    if ood_cfg.compare:
        section["comparison"] = compare_methods(model, sets, layer=str(ood_cfg.layer),
                                                n_components=int(ood_cfg.n_components),
                                                max_lesion_rejection=max_rejection, gate=gate, seed=seed)
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "ood.json").write_text(json.dumps(detector.to_dict()))
        section["detector_file"] = str(out / "ood.json")
        section["plot"] = str(_plot_scores(s["test"], non_lesion, threshold, method, out / "ood_scores.png"))
    return section


def _plot_scores(s_in, s_out, threshold: float, method: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    bins = np.linspace(min(s_in.min(), s_out.min()), max(s_in.max(), s_out.max()) * 1.05, 40)
    ax.hist(s_in, bins=bins, alpha=0.6, label="test lesions")
    ax.hist(s_out, bins=bins, alpha=0.6, label="held-out non-lesion images")
    ax.axvline(threshold, color="k", ls="--", label="threshold")
    ax.set_xlabel("not-a-lesion probability" if method == "lesion_gate" else "Mahalanobis distance")
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def tta_section(model, images, labels, threshold: float, eval_cfg: Any) -> dict:
    """Accuracy gain and latency cost of TTA (`tta.measure_tta`) at the chosen threshold."""

    transforms = [str(t) for t in eval_cfg.tta_transforms]
    return measure_tta(model, images, labels, transforms=transforms, threshold=threshold)
