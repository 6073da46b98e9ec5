"""The model-dependent parts of the clinical report: phone-photo robustness, the not-a-lesion (OOD)
detector and test-time augmentation. Each returns a JSON-ready section for report.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from melanoma_exp.evaluation.clinical_report import _get


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


def robustness_section(model, images, threshold: float, eval_cfg: Any = None, out_dir=None) -> dict:
    """`robustness.robustness_report` of the (served) model on test images, plus its plot."""
    from melanoma_exp.evaluation.robustness import plot_robustness, robustness_report

    limit = int(_get(eval_cfg, "robustness.max_images", 64))
    report = robustness_report(lambda x: model.predict(x, verbose=0), np.asarray(images)[:limit], threshold,
                               seed=int(_get(eval_cfg, "seed", 0)))
    if out_dir is not None:
        report["plot"] = str(plot_robustness(report, Path(out_dir) / "robustness.png"))
    return report


def ood_section(model, train, val, test, eval_cfg: Any = None, out_dir=None) -> dict:
    """Fit the Mahalanobis not-a-lesion detector and report it on held-out images.

    Args:
        model: the classifier (features come from ``eval.ood.layer``, default ``backbone``).
        train: (images, labels) of training lesions — the in-distribution reference.
        val: validation lesion images — with half of the synthetic non-lesion images they fix the
            threshold.
        test: test lesion images — with the other half of the non-lesion images, the held-out check.
        eval_cfg: the ``eval`` node.
        out_dir: where ``ood.json`` (the detector for the bundle) and ``ood_scores.png`` go.

    Returns:
        ``{"threshold", "fit", "held_out", "detector_file"}``; the detector dict itself is written
        to ``ood.json`` (it holds the PCA basis, too large for report.json).
    """
    from melanoma_exp.data.nonlesion import non_lesion_images
    from melanoma_exp.evaluation.ood import MahalanobisOOD, feature_extractor

    features = feature_extractor(model, str(_get(eval_cfg, "ood.layer", "backbone")))
    embed = lambda x: features.predict(np.asarray(x, np.float32), verbose=0)  # noqa: E731
    size = int(model.inputs[0].shape[1])
    n_non = int(_get(eval_cfg, "ood.n_non_lesion", 200))
    non, _ = non_lesion_images(n_non, size, seed=int(_get(eval_cfg, "seed", 0)) + 101)
    non_f = embed(non)
    detector = MahalanobisOOD(n_components=int(_get(eval_cfg, "ood.n_components", 32)))
    detector.fit(embed(train[0]), train[1])
    fit = detector.fit_threshold(embed(val), non_f[: n_non // 2],
                                 float(_get(eval_cfg, "ood.max_lesion_rejection", 0.05)))
    test_f = embed(test)
    section = {"method": "mahalanobis", "threshold": detector.threshold, "fit": fit,
               "held_out": detector.evaluate(test_f, non_f[n_non // 2 :]), "detector_file": None}
    if out_dir is not None:
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        (out / "ood.json").write_text(json.dumps(detector.to_dict()))
        section["detector_file"] = str(out / "ood.json")
        section["plot"] = str(_plot_scores(detector, test_f, non_f[n_non // 2 :], out / "ood_scores.png"))
    return section


def _plot_scores(detector, lesion_f, non_f, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    s_in, s_out = detector.score(lesion_f), detector.score(non_f)
    bins = np.linspace(0, max(s_in.max(), s_out.max()) * 1.05, 40)
    ax.hist(s_in, bins=bins, alpha=0.6, label="test lesions")
    ax.hist(s_out, bins=bins, alpha=0.6, label="non-lesion images")
    ax.axvline(detector.threshold, color="k", ls="--", label="threshold")
    ax.set_xlabel("Mahalanobis distance to nearest class mean")
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def tta_section(model, images, labels, threshold: float, eval_cfg: Any = None) -> dict:
    """Accuracy gain and latency cost of TTA (`tta.measure_tta`) at the chosen threshold."""
    from melanoma_exp.evaluation.tta import DEFAULT_TRANSFORMS, measure_tta

    transforms = list(_get(eval_cfg, "tta_transforms", DEFAULT_TRANSFORMS))
    return measure_tta(model, images, labels, transforms=transforms, threshold=threshold)
