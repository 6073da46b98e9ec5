"""The model-dependent parts of the clinical report: phone-photo robustness, the not-a-lesion (OOD)
detector and test-time augmentation. Each returns a JSON-ready section for report.json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from melanoma_exp.evaluation.tta import measure_tta
from melanoma_exp.paths import project_root


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


def real_lesion_sets(size: int, ood_cfg: Any, data_source: str, train, test, test_raw_paths=None,
                     seed: int = 0) -> dict:
    """The real lesions of one gate fit: what it learns from, what measures it and what that is called.

    A run on real data (``data_source`` other than ``synthetic``) learns from its own training images
    and is measured on its test split (its validation split sets the threshold); a run on synthetic
    data learns from the fit part of the dermoscopy sample (``eval.ood.real_lesions``) and is measured
    on the rest. Both get the two probes of `ood_lesions` (224 px and colour-shifted copies of the
    held-out lesions). Without real lesions (no sample configured or found) the gate is fitted on
    synthetic lesions alone and says so (``lesion_source: "synthetic only"``).

    Returns:
        ``fit`` (real training lesions, uint8; empty when the run's own images are the positives or
        there are none), ``held_out``, ``small``, ``colour`` (None when there are none),
        ``lesion_source``, ``held_out_source``, ``n_fit``.
    """
    from melanoma_exp.evaluation.ood_lesions import colour_probe, load_images, sample_split, small_probe

    empty = np.zeros((0, size, size, 3), np.uint8)
    if data_source != "synthetic":
        held = np.asarray(test, np.float32)
        return {"fit": empty, "held_out": held, "n_fit": int(len(train)),
                "small": small_probe(test_raw_paths, size) if test_raw_paths else None,
                "colour": colour_probe(held, seed + 5),
                "lesion_source": f"real: run training split ({data_source}, {len(train)} images)",
                "held_out_source": f"run test split ({data_source}, {len(held)} images)"}
    real_cfg = ood_cfg.real_lesions
    folder = Path(str(real_cfg.dir)) if real_cfg.dir else None
    if folder is None or not (folder / "metadata.csv").is_file():
        return {"fit": empty, "held_out": None, "small": None, "colour": None, "n_fit": 0,
                "lesion_source": "synthetic only", "held_out_source": None}
    split = sample_split(folder, float(real_cfg.fit_fraction), int(real_cfg.seed))
    held = load_images(split.held_out, size)
    return {"fit": load_images(split.fit, size), "held_out": held, "small": small_probe(split.held_out, size),
            "colour": colour_probe(held, seed + 5), "n_fit": len(split.fit),
            "lesion_source": f"real: {_shown(folder)} ({len(split.fit)} images) + synthetic: run training split "
                             f"({len(train)} images)",
            "held_out_source": f"{_shown(folder)}, the part the fit never saw ({len(split.held_out)} images)"}


def _shown(folder: Path) -> str:
    """The sample folder as the project names it (relative to the project root when inside it)."""
    try:
        return str(folder.resolve().relative_to(project_root().resolve()))
    except ValueError:
        return folder.name


def ood_section(model, train, val, test, eval_cfg: Any = None, out_dir=None, *, data_source: str = "synthetic",
                test_raw_paths=None) -> dict:
    """Fit the not-a-lesion check (``eval.ood.method``) and report it on sources no fit saw.

    Args:
        model: the classifier (features for the feature-space methods come from ``eval.ood.layer``).
        train: (images, labels) of training lesions — what a lesion looks like.
        val: validation lesion images — they fix the threshold (``eval.ood.max_lesion_rejection``,
            never below ``eval.ood.min_threshold``).
        test: test lesion images — held-out lesion rejection.
        eval_cfg: the ``eval`` node.
        out_dir: where ``ood.json`` (the detector for the bundle) and ``ood_scores.png`` go.
        data_source: the prepared data's ``source`` (manifest.json): ``synthetic`` or real data.
        test_raw_paths: the test split's original files (the 224 px probe of a real-data run).

    Non-lesion images are split by source (`ood_gate.ood_image_sets`): synthetic families, the
    real photographs of the fit sources and centred objects on them train the outlier-exposure
    methods; the held-out sources' photographs and fresh synthetic families measure them. Real
    lesions come from `real_lesion_sets`. With ``eval.ood.compare`` every method of
    `ood_compare.METHODS` is fitted on the same split and the table goes into ``comparison``.

    Returns:
        ``{"method", "threshold", "fit", "held_out", "comparison", "detector_file", ...}``; the detector
        itself is written to ``ood.json``.
    """
    import logging

    from melanoma_exp.evaluation.ood import MahalanobisOOD, feature_extractor
    from melanoma_exp.evaluation.ood_compare import compare_methods, per_set
    from melanoma_exp.evaluation.ood_gate import LesionGate, ood_image_sets, rates, threshold_for
    from melanoma_exp.evaluation.ood_lesions import training_views

    ood_cfg, seed = eval_cfg.ood, int(eval_cfg.seed)
    method, max_rejection = str(ood_cfg.method), float(ood_cfg.max_lesion_rejection)
    if method not in ("lesion_gate", "mahalanobis"):
        raise ValueError(f"eval.ood.method={method!r}: must be lesion_gate or mahalanobis")
    size = int(model.inputs[0].shape[1])
    sets = {"train": np.asarray(train[0], np.float32), "train_labels": np.asarray(train[1]),
            "val": np.asarray(val, np.float32), "test": np.asarray(test, np.float32),
            **ood_image_sets(size, ood_cfg, seed)}
    real = real_lesion_sets(size, ood_cfg, data_source, sets["train"], sets["test"], test_raw_paths, seed)
    probes = {k: v for k, v in (("real_held_out", real["held_out"]), ("real_small", real["small"]),
                                ("real_colour", real["colour"])) if v is not None and len(v)}
    sets.update(probes)
    if real["lesion_source"] == "synthetic only":
        logging.getLogger(__name__).warning("the not-a-lesion gate is fitted without real lesions (no "
                                            "eval.ood.real_lesions.dir): it will turn real lesions away")
    gate = None
    if method == "lesion_gate" or ood_cfg.compare:
        rng = np.random.default_rng(seed)
        own_views = int(ood_cfg.gate.views) if data_source != "synthetic" else 1
        lesions = np.concatenate([training_views(sets["train"], own_views, rng, lesion=True),
                                  training_views(real["fit"], int(ood_cfg.gate.views), rng, lesion=True)])
        others = training_views(sets["fit_non_lesion"], 1, rng, lesion=False)
        gate = LesionGate.train(lesions, others, size=int(ood_cfg.gate.size), c=float(ood_cfg.gate.c))
        del lesions, others
        gate.fit_threshold(sets["val"], max_rejection, float(ood_cfg.min_threshold))
        gate.meta.update({"lesion_source": real["lesion_source"], "n_real_lesions": real["n_fit"]})
    if method == "lesion_gate":
        detector, score = gate, gate.score
    else:
        features = feature_extractor(model, str(ood_cfg.layer))
        embed = lambda x: features.predict(np.asarray(x, np.float32), verbose=0)  # noqa: E731
        detector = MahalanobisOOD(n_components=int(ood_cfg.n_components)).fit(embed(sets["train"]), sets["train_labels"])
        score = lambda x: detector.score(embed(x))  # noqa: E731
        detector.threshold = threshold_for(score(sets["val"]), max_rejection)
        detector.meta["lesion_source"] = f"{data_source}: run training split ({len(sets['train'])} images)"
    threshold = float(detector.threshold)
    s = per_set(score, sets, ("val", "test", "fresh", "held_out_photos", "held_out_crops", "held_out_synthetic",
                              *probes))
    non_lesion = np.r_[s["held_out_crops"], s["held_out_synthetic"]]
    held_out = rates(s["test"], non_lesion, threshold)

    def rejected(key):
        return float(np.mean(s[key] >= threshold)) if key in s and len(s[key]) else None

    held_out.update({
        "real_photo_detection_rate": rejected("held_out_photos"),
        "n_real_photos": int(len(s["held_out_photos"])),
        "real_crop_detection_rate": rejected("held_out_crops"),
        "synthetic_detection_rate": rejected("held_out_synthetic"),
        "real_lesion_rejection_rate": rejected("real_held_out"),
        "n_real_lesions": int(len(s.get("real_held_out", []))),
        "real_lesions": real["held_out_source"],
        "real_small_rejection_rate": rejected("real_small"),
        "real_colour_rejection_rate": rejected("real_colour"),
        "fresh_lesion_rejection_rate": rejected("fresh"),
        "n_fresh_lesions": int(len(s["fresh"])),
        "missed_real_photos": [n for n, v in zip(sets["held_out_photo_names"], s["held_out_photos"], strict=True)
                               if v < threshold],
        "sources": sets["held_out_sources"],
    })
    fit = {"lesion_rejection_rate": float(np.mean(s["val"] >= threshold)), "max_lesion_rejection": max_rejection,
           "min_threshold": float(ood_cfg.min_threshold) if method == "lesion_gate" else None,
           "n_lesion": int(len(s["val"])), "sources": sets["fit_sources"],
           "n_non_lesion": int(len(sets["fit_non_lesion"])), "lesion_source": detector.meta["lesion_source"]}
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
