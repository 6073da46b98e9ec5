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
    keys = ("source", "counts", "seed", "image_size", "balance", "split", "fingerprint", "excluded")
    summary = {k: manifest[k] for k in keys if k in manifest}
    summary["prepared_dir"] = str(prepared_dir)
    return summary


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


def summary_table(report: dict, keys=("accuracy", "auc", "pr_auc", "sensitivity", "specificity",
                                      "precision_malignant", "f1_malignant", "f2_malignant")) -> str:
    """A plain-text table, model vs dummy baseline per metric (for the demo and the log)."""
    lines = [f"{'metric':<22}{'model':>10}{'baseline':>10}"]
    for key in keys:
        model_value, base_value = report["test"].get(key), report["baseline"].get(key)
        fmt = lambda v: f"{v:10.3f}" if isinstance(v, (int, float)) else f"{'n/a':>10}"  # noqa: E731
        lines.append(f"{key:<22}{fmt(model_value)}{fmt(base_value)}")
    return "\n".join(lines)
