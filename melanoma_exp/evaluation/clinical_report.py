"""The clinical section of report.json: operating point, calibration, subgroups, robustness, OOD,
TTA — with plots, flat MLflow metrics and a MODEL_CARD.md section.

`clinical_evaluation` needs only labels and probabilities (plus the test index for subgroups), so
the trainer, the k-fold driver and the ensemble command can all call it. The optional parts that need
the model (`robustness_section`, `ood_section`, `tta_section`) take callables or the Keras model.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np

from melanoma_exp import DISCLAIMER
from melanoma_exp.evaluation.calibration import apply_temperature, calibrate, plot_reliability
from melanoma_exp.evaluation.operating_point import auc_with_ci, choose_threshold, evaluate_at_threshold
from melanoma_exp.evaluation.subgroups import plot_subgroups, subgroup_markdown, subgroup_report


def clinical_evaluation(y_val, p_val, y_test, p_test, eval_cfg: Any, *, test_index=None,
                        out_dir: str | Path | None = None) -> dict:
    """Calibrate on validation, choose the threshold on validation, report the test split.

    Args:
        y_val, p_val: validation labels (1 = malignant) and raw model probabilities.
        y_test, p_test: test labels and raw model probabilities.
        eval_cfg: the ``eval`` config node (conf/eval/default.yaml; `melanoma_exp.config.group_config("eval")`).
        test_index: the test split's index rows (metadata columns) for the subgroup report.
        out_dir: where plots go (none written when None).

    Returns:
        JSON-ready dict: ``threshold`` (on the *served* scale: calibrated when calibration is on),
        ``calibration``, ``operating_point`` (validation and test with CIs), ``subgroups``,
        ``plots`` and the disclaimer. Probabilities the served model gives: `served_probabilities`.
    """
    y_val, y_test = np.asarray(y_val).astype(int).ravel(), np.asarray(y_test).astype(int).ravel()
    p_val, p_test = np.asarray(p_val, float).ravel(), np.asarray(p_test, float).ravel()
    bins = int(eval_cfg.calibration.bins)
    section: dict[str, Any] = {"disclaimer": DISCLAIMER, "plots": []}
    if eval_cfg.calibration.enabled:
        bounds = (float(eval_cfg.calibration.min_temperature), float(eval_cfg.calibration.max_temperature))
        section["calibration"] = calibrate(y_val, p_val, y_test, p_test, n_bins=bins, bounds=bounds)
        section["calibration"]["applied_in_model"] = True
    else:
        section["calibration"] = None
    cal_val, cal_test = served_probabilities(p_val, section), served_probabilities(p_test, section)

    op = choose_threshold(
        y_val, cal_val, str(eval_cfg.threshold_method),
        target_sensitivity=float(eval_cfg.target_sensitivity),
        beta=float(eval_cfg.beta),
    )
    confidence, seed = float(eval_cfg.confidence), int(eval_cfg.seed)
    test_op = evaluate_at_threshold(y_test, cal_test, op.threshold, n_resamples=int(eval_cfg.bootstrap),
                                    confidence=confidence, seed=seed)
    section["threshold"] = op.threshold
    section["operating_point"] = {**op.to_dict(), "chosen_on": "val", "test": test_op}
    at_half = evaluate_at_threshold(y_test, cal_test, 0.5, n_resamples=int(eval_cfg.bootstrap),
                                    confidence=confidence, seed=seed)
    section["at_0.5"] = at_half  # the thesis's argmax verdicts, with the same CIs
    section["test_auc"] = auc_with_ci(y_test, cal_test, n_resamples=int(eval_cfg.bootstrap),
                                      confidence=confidence, seed=seed)
    section["subgroups"] = None
    if test_index is not None:
        section["subgroups"] = subgroup_report(
            test_index, y_test, cal_test, op.threshold, margin=float(eval_cfg.subgroup_margin),
            min_malignant=int(eval_cfg.subgroup_min_malignant), confidence=confidence,
        )
    if out_dir is not None:
        section["plots"] = _plots(section, y_test, p_test, cal_test, Path(out_dir), bins)
    return section


def served_probabilities(probs, section: dict) -> np.ndarray:
    """The probabilities the exported (temperature-folded) model gives for these raw ones."""
    cal = section.get("calibration")
    return apply_temperature(probs, cal["temperature"]) if cal else np.asarray(probs, float).ravel()


def _plots(section: dict, y_test, p_raw, p_served, out: Path, bins: int) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [plot_operating_point(y_test, p_served, section["operating_point"], out / "operating_point.png")]
    if section["calibration"]:
        paths.append(plot_reliability(y_test, p_raw, p_served, out / "reliability.png", n_bins=bins))
    if section["subgroups"] and section["subgroups"]["groups"]:
        paths.append(plot_subgroups(section["subgroups"], out / "subgroups.png"))
    return [str(p) for p in paths]


def plot_operating_point(y_test, probs, op: dict, path: Path) -> Path:
    """Test ROC curve with the validation-chosen operating point and its 95% CI box."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import roc_curve

    fpr, tpr, _ = roc_curve(y_test, probs)
    t = op["test"]
    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot(fpr, tpr, label="test ROC")
    x, y = 1 - t["specificity"], t["sensitivity"]
    xerr = [[x - (1 - t["specificity_ci"][1])], [(1 - t["specificity_ci"][0]) - x]]
    yerr = [[y - t["sensitivity_ci"][0]], [t["sensitivity_ci"][1] - y]]
    ax.errorbar([x], [y], xerr=xerr, yerr=yerr, fmt="o", color="tab:red", capsize=3,
                label=f"threshold {op['threshold']:.3f} ({op['method']})")
    if op.get("target_sensitivity"):
        ax.axhline(op["target_sensitivity"], color="gray", ls=":", label="target sensitivity")
    ax.set_xlabel("1 − specificity (benign called malignant)")
    ax.set_ylabel("sensitivity (malignant caught)")
    ax.legend(loc="lower right", fontsize=8)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def _metric_name(text: str) -> str:
    """MLflow metric names allow letters, digits, _ - . / and spaces."""
    return re.sub(r"[^A-Za-z0-9_\-./ ]", "_", text)


def mlflow_metrics(section: dict) -> dict[str, float]:
    """Flat, finite metrics for MLflow (names follow contract 3: split/name)."""
    m: dict[str, float] = {}
    op = section.get("operating_point")
    if op:
        t = op["test"]
        m.update({"val/threshold": op["threshold"], "val/sensitivity_at_threshold": op["sensitivity"],
                  "val/specificity_at_threshold": op["specificity"],
                  "test/sensitivity_at_threshold": t["sensitivity"],
                  "test/sensitivity_at_threshold_ci_low": t["sensitivity_ci"][0],
                  "test/sensitivity_at_threshold_ci_high": t["sensitivity_ci"][1],
                  "test/specificity_at_threshold": t["specificity"],
                  "test/specificity_at_threshold_ci_low": t["specificity_ci"][0],
                  "test/specificity_at_threshold_ci_high": t["specificity_ci"][1]})
    auc = section.get("test_auc")
    if auc and auc["auc"] is not None:
        m.update({"test/auc_ci_low": auc["auc_ci"][0], "test/auc_ci_high": auc["auc_ci"][1]})
    cal = section.get("calibration")
    if cal:
        m["calibration/temperature"] = cal["temperature"]
        for when in ("before", "after"):
            for key, value in cal[when].items():
                m[f"test/{key}_{when}_calibration"] = value
    sub = section.get("subgroups")
    if sub:
        m["subgroups/flagged"] = float(sum(r["flag"] == "trails_overall" for r in sub["flagged"]))
        for rows in sub["groups"].values():
            for r in rows:
                m[_metric_name(f"subgroups/{r['attribute']}/{r['value']}/sensitivity")] = r["sensitivity"]
    rob = section.get("robustness")
    if rob:
        m.update({"robustness/trained_with_capture_preset": rob.get("trained_with_capture_preset"),
                  "robustness/swing_median_pp": rob["swing_pp"]["median"],
                  "robustness/swing_p95_pp": rob["swing_pp"]["p95"], "robustness/flip_rate": rob["flip_rate"]})
    ood = section.get("ood")
    if ood:
        m.update({f"ood/{k}": v for k, v in ood["held_out"].items() if isinstance(v, float)})
    tta = section.get("tta")
    if tta:
        m.update({"tta/accuracy_gain": tta["accuracy_gain"], "tta/latency_factor": tta["latency_factor"]})
    return {k: float(v) for k, v in m.items() if v is not None and math.isfinite(float(v))}


def flagged_subgroups(section: dict) -> list[str]:
    """``attribute=value`` of the subgroups that trail the overall sensitivity (for MLflow tags)."""
    sub = section.get("subgroups") or {}
    return [f"{r['attribute']}={r['value']}" for r in sub.get("flagged", []) if r["flag"] == "trails_overall"]


def model_card_markdown(section: dict) -> str:
    """The clinical-evaluation part of MODEL_CARD.md."""
    op, lines = section["operating_point"], ["## Clinical evaluation", ""]
    t = op["test"]
    lines += [
        f"Decision threshold **{op['threshold']:.3f}** ({op['method']}), chosen on the validation split"
        + (f" for a target sensitivity of {op['target_sensitivity']:.2f}" if op.get("target_sensitivity") else "")
        + ".",
        f"On the test split (n = {t['n']}, {t['n_malignant']} malignant): sensitivity {t['sensitivity']:.3f} "
        f"(95% CI {t['sensitivity_ci'][0]:.3f}–{t['sensitivity_ci'][1]:.3f}), specificity "
        f"{t['specificity']:.3f} (95% CI {t['specificity_ci'][0]:.3f}–{t['specificity_ci'][1]:.3f}).",
        "",
    ]
    cal = section.get("calibration")
    if cal:
        lines += ["### Calibration", "",
                  f"Temperature scaling (T = {cal['temperature']:.3f}, fitted on validation) is built into the "
                  "model, so its probabilities are calibrated.", "",
                  "| test | ECE | Brier |", "|---|---|---|",
                  f"| before | {cal['before']['ece']:.3f} | {cal['before']['brier']:.3f} |",
                  f"| after | {cal['after']['ece']:.3f} | {cal['after']['brier']:.3f} |", ""]
    if section.get("subgroups"):
        lines += ["### Subgroups", "", subgroup_markdown(section["subgroups"]), ""]
    rob = section.get("robustness")
    if rob:
        lines += ["### Phone-photo robustness", "",
                  f"Across {len(rob['degradations'])} capture-condition degradations of {rob['n_images']} test "
                  f"images the malignant probability swings by a median of {rob['swing_pp']['median']:.1f} and a "
                  f"95th percentile of {rob['swing_pp']['p95']:.1f} percentage points; the verdict flips for "
                  f"{100 * rob['flip_rate']:.1f}% of images. Retake unclear photos in good, even light.", ""]
    ood = section.get("ood")
    if ood:
        from melanoma_exp.evaluation.ood_compare import ood_card_lines

        lines += ["### Not-a-lesion check", "", *ood_card_lines(ood), ""]
    lines += [f"_{DISCLAIMER}_", ""]
    return "\n".join(lines)
