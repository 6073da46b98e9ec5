"""The one call the trainer's evaluation makes: the whole clinical section for a trained run.

`evaluate_clinical` predicts the validation split, calibrates and chooses the threshold there,
folds the temperature into the model **in place** (so the model the trainer then logs and exports
serves calibrated probabilities), and adds robustness, not-a-lesion and TTA sections as configured.
Plots and ood.json go to ``out_dir`` and, with a tracker, to MLflow under ``clinical/``.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from melanoma_exp.evaluation.clinical_report import (
    clinical_evaluation,
    flagged_subgroups,
    mlflow_metrics,
    served_probabilities,
)
from melanoma_exp.evaluation.model_checks import (
    images_from_dataset,
    ood_section,
    robustness_section,
    tta_section,
)

log = logging.getLogger(__name__)


def _split(prepared_dir, split: str, batch_size: int):
    from melanoma_exp.data.pipeline import load_split_index, make_dataset

    return load_split_index(prepared_dir, split), make_dataset(prepared_dir, split, batch_size=batch_size,
                                                                training=False)


def _source_and_files(prepared_dir, index) -> tuple[str, list]:
    """The prepared data's ``source`` (manifest.json) and the original files of ``index``'s rows (for
    the not-a-lesion gate: which lesions it learns from, and its 224 px probe)."""
    from melanoma_exp.data.prepare import read_manifest
    from melanoma_exp.evaluation.ood_lesions import raw_paths

    manifest = read_manifest(Path(prepared_dir))
    source = str(manifest.get("source", "synthetic"))
    raw_dir = manifest.get("raw_dir")
    return source, (raw_paths(raw_dir, index["isic_id"]) if raw_dir and source != "synthetic" else [])


def evaluate_clinical(model, cfg: Any, prepared_dir, y_test, p_test, out_dir, tracker=None) -> tuple[dict, np.ndarray]:
    """Clinical evaluation of a trained model (see the module docstring).

    Args:
        model: the trained Keras classifier (modified in place when calibration is on).
        cfg: the composed config; reads ``cfg.eval`` and ``cfg.data.batch_size``.
        prepared_dir: the prepared dataset folder.
        y_test, p_test: test labels and the model's raw test probabilities (index.csv order).
        out_dir: folder for plots and ood.json.
        tracker: the run's tracker (``log_metrics``, ``log_artifact``, ``set_tags``) or None.

    Returns:
        (the ``clinical`` section for report.json, served test probabilities).
    """
    from melanoma_exp.evaluation.calibration import fold_temperature

    eval_cfg, batch = cfg.eval, int(cfg.data.batch_size)
    out = Path(out_dir)
    started = time.perf_counter()
    val_index, val_ds = _split(prepared_dir, "val", batch)
    p_val = model.predict(val_ds, verbose=0).reshape(-1)
    test_index, test_ds = _split(prepared_dir, "test", batch)
    try:
        section = clinical_evaluation(val_index["label"].to_numpy(), p_val, y_test, p_test, eval_cfg,
                                      test_index=test_index, out_dir=out)
    except ValueError as err:
        # Training is done and checkpointed: say how to finish the run rather than just failing.
        run_dir = out.parent.parent  # <run_dir>/evaluation/clinical
        raise ValueError(f"clinical evaluation failed: {err}. The trained model is checkpointed; finish the "
                         f"run without retraining: add trainer.run_dir={run_dir} and fix the setting (or "
                         "eval.enabled=false) to the same command.") from err
    if section["calibration"]:
        fold_temperature(model, section["calibration"]["temperature"], inplace=True)
    served, threshold = served_probabilities(p_test, section), section["threshold"]
    timings = {"operating_point_calibration_subgroups": time.perf_counter() - started}
    heavy = not (cfg.get("sweep") and not eval_cfg.checks_in_sweep)
    if not heavy:
        log.info("sweep trial: robustness/OOD/TTA checks skipped (eval.checks_in_sweep=false)")

    if heavy and eval_cfg.robustness.enabled:
        t0 = time.perf_counter()
        images, _ = images_from_dataset(test_ds, int(eval_cfg.robustness.max_images))
        section["robustness"] = robustness_section(model, images, threshold, eval_cfg, out_dir=out)
        # Which preset the model trained with, so runs with and without it compare side by side.
        augment = cfg.data.augment  # `capture` only when the preset was added (+data.augment.capture=P)
        section["robustness"]["trained_with_capture_preset"] = float(augment.get("capture") or 0.0)
        timings["robustness"] = time.perf_counter() - t0
    if heavy and eval_cfg.ood.enabled:
        t0 = time.perf_counter()
        train = images_from_dataset(_split(prepared_dir, "train", batch)[1], int(eval_cfg.ood.max_train))
        source, test_files = _source_and_files(prepared_dir, test_index)
        try:
            section["ood"] = ood_section(model, train, images_from_dataset(val_ds)[0],
                                         images_from_dataset(test_ds)[0], eval_cfg, out_dir=out,
                                         data_source=source, test_raw_paths=test_files)
        except ValueError as err:  # e.g. no `backbone` layer in a custom model: report, don't crash
            log.warning("not-a-lesion check skipped: %s", err)
            section["ood"] = None
            section["ood_skipped"] = str(err)
        timings["ood"] = time.perf_counter() - t0
    if heavy and eval_cfg.tta:
        t0 = time.perf_counter()
        x, y = images_from_dataset(test_ds)
        section["tta"] = tta_section(model, x, y, threshold, eval_cfg)
        timings["tta"] = time.perf_counter() - t0
    section["timings_s"] = {k: round(v, 2) for k, v in timings.items()}
    log.info("clinical evaluation took %s", section["timings_s"])
    section["plots"] += [s["plot"] for s in (section.get("robustness"), section.get("ood")) if s and s.get("plot")]
    if tracker is not None:
        _track(section, tracker, out)
    return section, served


def _track(section: dict, tracker, out: Path) -> None:
    tracker.log_metrics(mlflow_metrics(section))
    tracker.set_tags({"clinical.threshold_method": section["operating_point"]["method"],
                      "clinical.flagged_subgroups": ", ".join(flagged_subgroups(section)) or "none"})
    for path in section["plots"]:
        tracker.log_artifact(Path(path), "clinical")
    if section.get("ood") and section["ood"].get("detector_file"):
        tracker.log_artifact(Path(section["ood"]["detector_file"]), "clinical")
    card = out / "clinical_model_card.md"
    from melanoma_exp.evaluation.clinical_report import model_card_markdown

    card.write_text(model_card_markdown(section), encoding="utf-8")
    tracker.log_artifact(card, "clinical")
