"""What of the clinical evaluation travels in the model bundle: a compact summary for model.json
(``clinical``) and its section of MODEL_CARD.md.

The threshold itself is model.json's ``decision_threshold`` and the temperature is already folded
into the exported model's last layer; this summary says so, with the numbers behind them, so a reader
of the bundle alone knows how the threshold was chosen and which subgroups trail.
"""

from __future__ import annotations

import math
import sys
from typing import Any

from melanoma_exp.export.litert import convert_to_litert


def _finite(value: Any) -> Any:
    """NaN/inf -> None, recursively: model.json is read by strict JSON parsers (the app)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def _preset_note(share: float | None) -> str:
    if share is None:  # not recorded (an older report)
        return "."
    if share:
        return f" (trained with the capture augmentation preset on {share:.0%} of images)."
    return " (trained without the capture augmentation preset)."


def _f(value: Any, spec: str = ".3f") -> str:
    return "n/a" if value is None else format(value, spec)


def bundle_summary(section: dict[str, Any] | None) -> dict[str, Any] | None:
    """The compact ``clinical`` entry of model.json from report.json's ``clinical`` section."""
    if not section:
        return None
    op, test = section["operating_point"], section["operating_point"]["test"]
    summary: dict[str, Any] = {
        "threshold_method": op["method"],
        "target_sensitivity": op.get("target_sensitivity"),
        "threshold_chosen_on": op.get("chosen_on", "val"),
        "test_sensitivity": test["sensitivity"],
        "test_sensitivity_ci95": test["sensitivity_ci"],
        "test_specificity": test["specificity"],
        "test_specificity_ci95": test["specificity_ci"],
    }
    cal = section.get("calibration")
    if cal:
        summary["calibration"] = {"method": "temperature", "temperature": cal["temperature"],
                                  "applied_in_model": bool(cal.get("applied_in_model", True)),
                                  "test_ece_before": cal["before"]["ece"], "test_ece_after": cal["after"]["ece"]}
        if cal.get("not_applied_reason"):  # the fitted T would have made calibration worse
            summary["calibration"]["not_applied_reason"] = cal["not_applied_reason"]
    sub = section.get("subgroups")
    if sub:
        summary["flagged_subgroups"] = [
            {"attribute": r["attribute"], "value": r["value"], "sensitivity": r["sensitivity"],
             "n_malignant": r["n_malignant"]}
            for r in sub["flagged"] if r["flag"] == "trails_overall"
        ]
        summary["subgroup_margin"] = sub["margin"]
    rob = section.get("robustness")
    if rob:
        summary["robustness"] = {"swing_median_pp": rob["swing_pp"]["median"], "swing_p95_pp": rob["swing_pp"]["p95"],
                                 "flip_rate": rob["flip_rate"], "n_images": rob["n_images"],
                                 "trained_with_capture_preset": rob.get("trained_with_capture_preset")}
    ood = section.get("ood")
    if ood:
        summary["ood"] = {"method": ood["method"], "threshold": ood["threshold"], "fit": ood.get("fit"),
                          "held_out": ood["held_out"], "comparison": ood.get("comparison"),
                          "quality_issue": "not_a_lesion"}
    return _finite(summary)


def model_card_lines(summary: dict[str, Any] | None) -> list[str]:
    """MODEL_CARD.md lines for a model.json ``clinical`` summary (empty when there is none)."""
    if not summary:
        return []

    def ci(values) -> str:
        return f"{_f(values[0], '.2f')}–{_f(values[1], '.2f')}" if values else "n/a"

    target = summary.get("target_sensitivity")
    lines = [
        "## Clinical evaluation",
        f"- Threshold chosen on the {summary['threshold_chosen_on']} split by {summary['threshold_method']}"
        + (f" (target sensitivity {target:.2f})" if target else "") + ".",
        f"- Test sensitivity {_f(summary['test_sensitivity'])} (95% CI {ci(summary['test_sensitivity_ci95'])}), "
        f"specificity {_f(summary['test_specificity'])} (95% CI {ci(summary['test_specificity_ci95'])}).",
    ]
    cal = summary.get("calibration")
    if cal and cal.get("not_applied_reason"):
        lines.append(f"- Temperature scaling was fitted but not applied: {cal['not_applied_reason']}; the "
                     f"probabilities are the model's own (test ECE {_f(cal['test_ece_before'])}).")
    elif cal:
        lines.append(f"- Calibrated by temperature scaling (T = {cal['temperature']:.3f}, built into the model): "
                     f"test ECE {_f(cal['test_ece_before'])} before, {_f(cal['test_ece_after'])} after.")
    if "flagged_subgroups" in summary:
        flagged = summary["flagged_subgroups"]
        lines.append(
            f"- Subgroups whose sensitivity trails the overall by more than {summary['subgroup_margin']:.2f}: "
            + (", ".join(f"**{g['attribute']} = {g['value']}** ({_f(g['sensitivity'], '.2f')}, "
                         f"{g['n_malignant']} malignant)" for g in flagged) if flagged else "none")
            + ". Small groups have wide intervals: not flagged is not the same as shown to be fine."
        )
    rob = summary.get("robustness")
    if rob:
        lines.append(f"- Phone-photo robustness: the malignant probability swings by a median of "
                     f"{_f(rob['swing_median_pp'], '.1f')} pp (95th percentile {_f(rob['swing_p95_pp'], '.1f')} pp) across "
                     f"capture-condition degradations; the verdict flips for {_f(100 * rob['flip_rate'], '.0f')}% of images"
                     + _preset_note(rob.get("trained_with_capture_preset")))
    ood = summary.get("ood")
    if ood:
        if ood.get("fit"):
            from melanoma_exp.evaluation.ood_compare import ood_card_lines

            card = ood_card_lines(ood)
            lines.append(f"- Not-a-lesion check: {card[0]}")
            lines += card[1:]
        else:  # summarised before the check was measured on held-out real photos
            lines.append(f"- Not-a-lesion check ({ood['method']}): held-out AUROC "
                         f"{_f(ood['held_out'].get('auroc'), '.2f')} against synthetic non-lesion images.")
    return [*lines, ""]


OOD_FILE = "ood.tflite"


def write_ood_model(bundle_dir, model, detector: dict, layer_name: str = "backbone") -> dict:
    """Write the not-a-lesion scorer ``ood.tflite`` into a bundle folder; return model.json's ``ood``.

    ``ood.tflite`` takes the same input as ``model.tflite`` and returns one not-a-lesion score, shape
    [1, 1]; a score at or above ``threshold`` means "this does not look like a skin-lesion photo"
    (quality issue ``not_a_lesion``). What the score is depends on ``method``: ``lesion_gate`` — the
    gate's not-a-lesion probability; ``mahalanobis`` — the squared Mahalanobis distance of the
    backbone features to the nearest training class mean (``threshold`` is then the squared distance).

    Args:
        bundle_dir: the bundle folder being written by `export_bundle`.
        model: the bundle's Keras classifier (without test-time augmentation).
        detector: the fitted detector as saved in the run's ``clinical/ood.json``.
        layer_name: the feature layer a ``mahalanobis`` detector was fitted on.
    """
    from pathlib import Path

    if detector.get("method") == "lesion_gate":
        from melanoma_exp.evaluation.ood_gate import LesionGate

        fitted = LesionGate.from_dict(detector)
        scorer, threshold = fitted.model, float(fitted.threshold)
        output = ("not-a-lesion probability of the lesion gate (ImageNet EfficientNet-Lite0 features, logistic "
                  "read-out), shape [1, 1]" if "kernel" in detector else
                  "not-a-lesion probability of the lesion gate (small CNNs, averaged), shape [1, 1]")
    else:
        from melanoma_exp.evaluation.ood import MahalanobisOOD, ood_score_model

        fitted = MahalanobisOOD.from_dict(detector)
        scorer, threshold = ood_score_model(model, fitted, layer_name), float(fitted.threshold) ** 2
        output = "squared Mahalanobis distance to the nearest class mean, shape [1, 1]"
    (Path(bundle_dir) / OOD_FILE).write_bytes(convert_to_litert(scorer, quantize=False))
    lesion_source = lesion_source_of(fitted.meta or {})
    if not lesion_source.startswith("real"):
        print(f"WARNING: the not-a-lesion check of {Path(bundle_dir).name} {_unreal(lesion_source)}: it may "
              "turn real skin lesions away as 'not a lesion'. Fit it with real dermoscopy "
              "(eval.ood.real_lesions, or train on real data) before anyone uses this bundle.",
              file=sys.stderr, flush=True)
    return {
        "file": OOD_FILE,
        "method": detector.get("method", "mahalanobis"),
        "input": "same as model.tflite",
        "output": output,
        "threshold": threshold,
        "rule": "not_a_lesion when output >= threshold",
        "quality_issue": "not_a_lesion",
        "lesion_source": lesion_source,
        "fit": _finite((fitted.meta or {}).get("threshold_fit", {})),
    }


def _unreal(lesion_source: str) -> str:
    if lesion_source.startswith("not recorded"):
        return "does not record which lesions it was fitted on (an older run)"
    return f"was fitted without real lesions ({lesion_source})"


def ood_card_warning(entry: dict | None) -> list[str]:
    """MODEL_CARD.md lines for model.json's ``ood`` entry: the lesions its gate learnt from, loudly
    when they were not real."""
    if not entry:
        return []
    source = str(entry.get("lesion_source") or lesion_source_of({}))
    if source.startswith("real"):
        return [f"- Not-a-lesion check fitted on lesions from: {source}."]
    return [f"- **WARNING: the not-a-lesion check {_unreal(source)}. It may answer \"not a lesion\" for real "
            "skin lesions: do not rely on it.**"]


def lesion_source_of(meta: dict) -> str:
    """What the detector learnt "lesion" from (its meta's ``lesion_source``); a detector from before the
    gate knew real lesions says nothing, and was fitted on the run's own (then synthetic) lesions."""
    return str(meta.get("lesion_source") or (meta.get("threshold_fit") or {}).get("lesion_source")
               or "not recorded (fitted before real lesions were used: the run's own lesions)")
