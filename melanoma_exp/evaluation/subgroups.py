"""Metrics per subgroup (sex, age band, anatomic site, Fitzpatrick skin type, image source).

The thesis worried about skin-tone bias (§5.7, §6.1; the EU AI Act asks for it). Each subgroup gets
its counts, sensitivity and specificity at the chosen threshold with Wilson 95% intervals (exact-ish
for the small counts subgroups have, where a bootstrap is unreliable) and AUC when both classes are
present. Missing metadata is its own ``unknown`` group so every table sums to the total. A subgroup
whose sensitivity trails the overall sensitivity by more than ``margin`` is flagged.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy.stats import binomtest
from sklearn.metrics import roc_auc_score

# report name -> metadata column (contract 1 names)
SUBGROUP_COLUMNS = {
    "sex": "sex",
    "age_band": "age_approx",
    "anatomic_site": "anatom_site_general",
    "fitzpatrick_skin_type": "fitzpatrick_skin_type",
    "image_source": "attribution",
}
AGE_BANDS = (0, 30, 45, 60, 75, 200)
UNKNOWN = "unknown"


def age_band(age) -> str:
    """``"<30"``, ``"30-44"``, ``"45-59"``, ``"60-74"``, ``"75+"`` or ``unknown``."""
    try:
        a = float(age)
    except (TypeError, ValueError):
        return UNKNOWN
    if math.isnan(a):
        return UNKNOWN
    for low, high in zip(AGE_BANDS[:-1], AGE_BANDS[1:], strict=True):
        if low <= a < high:
            if low == 0:
                return f"<{high}"
            return f"{low}+" if high == AGE_BANDS[-1] else f"{low}-{high - 1}"
    return UNKNOWN


def wilson_ci(successes: int, trials: int, confidence: float = 0.95) -> list[float]:
    """Wilson score interval of a proportion (SciPy), ``[nan, nan]`` with no trials."""
    if trials == 0:
        return [float("nan"), float("nan")]
    ci = binomtest(int(successes), int(trials)).proportion_ci(confidence_level=confidence, method="wilson")
    return [float(ci.low), float(ci.high)]


def group_metrics(y_true, scores, threshold: float, confidence: float = 0.95) -> dict:
    """Counts, sensitivity/specificity (with Wilson CIs) and AUC for one set of cases."""
    y = np.asarray(y_true).astype(int)
    s = np.asarray(scores, dtype=float)
    pred = s >= threshold
    n_mal, n_ben = int((y == 1).sum()), int((y == 0).sum())
    tp, tn = int((pred & (y == 1)).sum()), int((~pred & (y == 0)).sum())
    return {
        "n": int(y.size),
        "n_malignant": n_mal,
        "n_benign": n_ben,
        "true_positives": tp,
        "true_negatives": tn,
        "sensitivity": tp / n_mal if n_mal else float("nan"),
        "sensitivity_ci": wilson_ci(tp, n_mal, confidence),
        "specificity": tn / n_ben if n_ben else float("nan"),
        "specificity_ci": wilson_ci(tn, n_ben, confidence),
        "auc": float(roc_auc_score(y, s)) if 0 < n_mal < y.size else float("nan"),
    }


def _group_values(index: pd.DataFrame, name: str) -> pd.Series | None:
    column = SUBGROUP_COLUMNS[name]
    if column not in index.columns:
        return None
    values = index[column]
    if name == "age_band":
        return values.map(age_band)
    # Fitzpatrick types arrive as "I".."VI" or numbers; strings keep "I" and 1 apart only if mixed.
    return values.map(lambda v: UNKNOWN if pd.isna(v) or str(v).strip() == "" else str(v).strip())


def subgroup_report(
    index: pd.DataFrame,
    y_true,
    scores,
    threshold: float,
    *,
    margin: float = 0.05,
    min_malignant: int = 5,
    confidence: float = 0.95,
) -> dict:
    """Per-subgroup metrics at the chosen threshold, with trailing groups flagged.

    Args:
        index: the split's index rows (same order as ``scores``) holding the metadata columns.
        y_true: labels, 1 = malignant.
        scores: malignant probabilities.
        threshold: the operating-point threshold.
        margin: flag a group whose sensitivity < overall sensitivity - margin.
        min_malignant: groups with fewer malignant cases are flagged ``too_few_malignant`` as well,
            since their sensitivity is too uncertain to clear them.
        confidence: interval level.

    Returns:
        ``{"overall": {...}, "margin": .., "groups": {attribute: [row, ...]}, "flagged": [row, ...],
        "missing_attributes": [...]}``; every row has ``attribute``, ``value``, the metrics and
        ``flag`` (None, ``"trails_overall"``, ``"too_few_malignant"``).
    """
    y = np.asarray(y_true).astype(int)
    s = np.asarray(scores, dtype=float)
    if len(index) != y.size or s.size != y.size:
        raise ValueError(f"index has {len(index)} rows, y_true {y.size}, scores {s.size}: must match")
    index = index.reset_index(drop=True)
    overall = group_metrics(y, s, threshold, confidence)
    groups: dict[str, list[dict]] = {}
    flagged: list[dict] = []
    missing: list[str] = []
    for name in SUBGROUP_COLUMNS:
        values = _group_values(index, name)
        if values is None or (values == UNKNOWN).all():
            missing.append(name)
            continue
        rows = []
        for value in sorted(values.unique(), key=str):
            mask = (values == value).to_numpy()
            row = {"attribute": name, "value": value, **group_metrics(y[mask], s[mask], threshold, confidence)}
            row["flag"] = _flag(row, overall["sensitivity"], margin, min_malignant)
            rows.append(row)
            if row["flag"]:
                flagged.append(row)
        groups[name] = rows
    return {
        "overall": overall,
        "threshold": float(threshold),
        "margin": margin,
        "groups": groups,
        "flagged": flagged,
        "missing_attributes": missing,
    }


def _flag(row: dict, overall_sensitivity: float, margin: float, min_malignant: int) -> str | None:
    if row["n_malignant"] and row["sensitivity"] < overall_sensitivity - margin:
        return "trails_overall"
    if 0 < row["n_malignant"] < min_malignant:
        return "too_few_malignant"
    return None


def subgroup_markdown(report: dict) -> str:
    """Markdown tables for MODEL_CARD.md (flagged rows marked with ⚠)."""
    lines = [
        f"Threshold {report['threshold']:.3f}; overall sensitivity "
        f"{report['overall']['sensitivity']:.3f}; groups trailing it by more than "
        f"{report['margin']:.2f} are marked ⚠.",
        "",
    ]
    for name, rows in report["groups"].items():
        lines += [f"**{name}**", "", "| group | n | malignant | sensitivity (95% CI) | specificity (95% CI) | flag |",
                  "|---|---|---|---|---|---|"]
        for r in rows:
            lines.append(
                f"| {r['value']} | {r['n']} | {r['n_malignant']} | {_fmt(r['sensitivity'], r['sensitivity_ci'])} "
                f"| {_fmt(r['specificity'], r['specificity_ci'])} | {'⚠ ' + r['flag'] if r['flag'] else ''} |"
            )
        lines.append("")
    if report["missing_attributes"]:
        lines.append("Not in the metadata: " + ", ".join(report["missing_attributes"]) + ".")
    return "\n".join(lines)


def _fmt(value: float, ci: list[float]) -> str:
    if math.isnan(value):
        return "–"
    return f"{value:.2f} ({ci[0]:.2f}–{ci[1]:.2f})"


def plot_subgroups(report: dict, path) -> object:
    """Sensitivity per subgroup with CIs and the overall line; returns the PNG path."""
    from pathlib import Path

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [r for rows in report["groups"].values() for r in rows if r["n_malignant"]]
    fig, ax = plt.subplots(figsize=(7, max(2.0, 0.3 * len(rows) + 1)))
    ys = np.arange(len(rows))
    sens = np.array([r["sensitivity"] for r in rows])
    lo = np.array([r["sensitivity_ci"][0] for r in rows])
    hi = np.array([r["sensitivity_ci"][1] for r in rows])
    colors = ["tab:red" if r["flag"] == "trails_overall" else "tab:blue" for r in rows]
    ax.errorbar(sens, ys, xerr=[sens - lo, hi - sens], fmt="none", ecolor="gray")
    ax.scatter(sens, ys, c=colors, zorder=3)
    ax.axvline(report["overall"]["sensitivity"], color="k", ls="--", lw=1, label="overall")
    ax.set_yticks(ys, [f"{r['attribute']}={r['value']} (n={r['n_malignant']})" for r in rows], fontsize=7)
    ax.set_xlabel("sensitivity (malignant recall), 95% Wilson CI")
    ax.set_xlim(-0.02, 1.02)
    ax.legend(fontsize=8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path
