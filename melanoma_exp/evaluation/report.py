"""report.json (read by the export into model.json / MODEL_CARD.md) and the predictions CSV.

report.json schema (the export relies on these keys)::

    {"model": {"name", "image_size", "weights"}, "data": {manifest summary}, "threshold",
     "monitor": {"name", "value", "epoch"}, "test": {metrics}, "baseline": {metrics},
     "disclaimer", ...}
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from melanoma_exp import DISCLAIMER


def _clean(value: Any) -> Any:
    """JSON has no NaN: undefined metrics become null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def manifest_summary(prepared_dir: Path) -> dict:
    """The parts of the prepared folder's manifest.json a model card needs."""
    manifest_file = Path(prepared_dir) / "manifest.json"
    manifest = json.loads(manifest_file.read_text()) if manifest_file.is_file() else {}
    keys = ("source", "kind", "total", "counts", "seed", "image_size", "balance", "split", "grouping",
            "fingerprint", "excluded")
    summary = {k: manifest[k] for k in keys if k in manifest}
    summary["prepared_dir"] = str(prepared_dir)
    return summary


# report.json key and MLflow prefix of the test metrics at threshold 0.5 (beside the operating point's).
AT_HALF = "at_0.5"
AT_HALF_PREFIX = "test_at_0.5"


def build_report(*, model: dict, data: dict, threshold: float, monitor: dict, test: dict,
                 baseline: dict, extra: dict | None = None) -> dict:
    """Assemble the report dictionary (NaN -> null)."""
    report = {
        "model": model,
        "data": data,
        "threshold": float(threshold),
        "monitor": monitor,
        "test": test,
        "baseline": baseline,
        "disclaimer": DISCLAIMER,
    }
    report.update(extra or {})
    return _clean(report)


def write_report(report: dict, path: Path) -> Path:
    path.write_text(json.dumps(report, indent=2))
    return path


def write_predictions(image_ids, probability, path: Path) -> Path:
    """Test predictions in the ISIC challenge format: `image, benign, malignant` probabilities."""
    probability = np.asarray(probability, dtype=float).ravel()
    frame = pd.DataFrame(
        {"image": list(image_ids), "benign": 1.0 - probability, "malignant": probability}
    )
    frame.to_csv(path, index=False, float_format="%.6f")
    return path


def auc_text(auc: dict) -> str:
    """``AUC 0.736 (95% bootstrap CI 0.608-0.852)`` for an `operating_point.auc_with_ci` result."""
    if auc["auc"] is None:
        return "AUC undefined (the split lacks a class)"
    low, high = auc["auc_ci"]
    return f"AUC {auc['auc']:.3f} ({auc['confidence']:.0%} bootstrap CI {low:.3f}-{high:.3f})"


def rate_text(values: dict, key: str, with_ci: bool = True) -> str:
    """``sensitivity 0.760 (95% CI 0.560-0.920)`` for an `operating_point.evaluate_at_threshold` result."""
    if not with_ci:
        return f"{key} {values[key]:.3f}"
    low, high = values[f"{key}_ci"]
    return f"{key} {values[key]:.3f} ({values['confidence']:.0%} CI {low:.3f}-{high:.3f})"


def data_line(data: dict, n_test: int | None = None) -> str:
    """One line naming the data a model was trained and tested on, so no synthetic number is read as
    a real one: ``data: real sample (...), 417 images; test split 84 images``."""
    kind = data.get("kind") or data.get("source") or "not recorded"
    total = f", {data['total']} images" if data.get("total") is not None else ""
    test = f"; test split {n_test} images" if n_test is not None else ""
    return f"data: {kind}{total}{test}"


def summary_table(report: dict, keys=("accuracy", "auc", "pr_auc", "sensitivity", "specificity",
                                      "precision_malignant", "f1_malignant", "f2_malignant")) -> str:
    """A plain-text table per metric: the model at its decision threshold, at 0.5 (the thesis's
    argmax verdicts) when the report has them, and the dummy baseline (for the demo and the log)."""
    at_half = report.get(AT_HALF)
    columns = [("model", report["test"])]
    if at_half is not None:
        threshold = report.get("threshold")
        columns = [(f"t={threshold:.3g}" if isinstance(threshold, float) else "model", report["test"]),
                   ("at 0.5", at_half)]
    columns.append(("baseline", report["baseline"]))
    fmt = lambda v: f"{v:10.3f}" if isinstance(v, (int, float)) else f"{'n/a':>10}"  # noqa: E731
    lines = [data_line(report.get("data") or {}, report["test"].get("n"))]
    lines.append(f"{'metric':<22}" + "".join(f"{name:>10}" for name, _ in columns))
    for key in keys:
        lines.append(f"{key:<22}" + "".join(fmt(values.get(key)) for _, values in columns))
    return "\n".join(lines)
