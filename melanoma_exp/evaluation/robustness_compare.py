"""Does the ``capture`` augmentation preset make a model steadier on phone photos, and at what cost?

`compare_robustness` reads the ``clinical.robustness`` section and the test metrics of several runs'
report.json (trained with and without the preset, one or more seeds each) and compares them: the
median and 95th-percentile swing of the malignant probability (percentage points), the verdict-flip
rate, and accuracy / sensitivity / specificity / AUC, so a robustness gain that costs sensitivity is
visible. All runs must have scored the same test images with the same degradations (they do when
they share the prepared dataset and ``eval.seed``), so per-image swings are paired and a Wilcoxon
signed-rank test (SciPy) says whether the difference is measurable at all.

`comparison_markdown` and `plot_comparison` write the table and the side-by-side plot;
`card_summary` / `card_lines` are the model.json entry and MODEL_CARD.md section of one compared run.
Research tool, not medical advice.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from melanoma_exp import DISCLAIMER

# Columns of the comparison (report.json key path, table header); swings in pp, rates as fractions.
ROBUSTNESS_COLUMNS = [("swing_median_pp", "median swing (pp)"), ("swing_p95_pp", "p95 swing (pp)"),
                      ("flip_rate", "verdict flips")]
TEST_COLUMNS = [("sensitivity", "sensitivity"), ("specificity", "specificity"), ("accuracy", "accuracy"),
                ("auc", "AUC")]
COLUMNS = ROBUSTNESS_COLUMNS + TEST_COLUMNS
# What must match for two runs' per-image swings to be paired (same images, same copies).
_PAIRING_KEYS = ("n_images", "seed", "degradations")
ALPHA = 0.05  # significance level of the paired test

ARTIFACT_DIR = "robustness_comparison"  # where `melanoma compare-robustness` logs to each run


def run_summary(report: dict[str, Any], run: str) -> dict[str, Any]:
    """One run's row: preset share, robustness numbers and test metrics from its report.json.

    Raises:
        ValueError: naming ``run`` when the report has no robustness section or no preset record.
    """
    rob = (report.get("clinical") or {}).get("robustness")
    if not rob:
        raise ValueError(
            f"run {run} has no robustness report (clinical.robustness in its report.json): train it with "
            "eval.robustness.enabled=true outside a sweep (sweep trials skip the check), or finish it with "
            "trainer.run_dir=<its run folder>")
    share = rob.get("trained_with_capture_preset")
    if share is None:
        raise ValueError(f"run {run}'s robustness report does not record trained_with_capture_preset "
                         "(an older run): retrain it to compare with and without the preset")
    test = report.get("test") or {}
    row = {"run": run, "capture_preset": float(share), "threshold": report.get("threshold"),
           "swing_median_pp": rob["swing_pp"]["median"], "swing_p95_pp": rob["swing_pp"]["p95"],
           "swing_mean_pp": rob["swing_pp"]["mean"], "flip_rate": rob["flip_rate"],
           "prepared_dir": (report.get("data") or {}).get("prepared_dir")}
    row.update({key: test.get(key) for key, _ in TEST_COLUMNS})
    row["pairing"] = {key: rob.get(key) for key in _PAIRING_KEYS}
    row["per_image_swing_pp"] = list(rob["per_image_swing_pp"])
    return row


def _check_paired(rows: list[dict]) -> None:
    first = rows[0]
    for row in rows[1:]:
        for key in ("prepared_dir", "pairing"):
            if row[key] != first[key]:
                raise ValueError(
                    f"runs {first['run']} and {row['run']} scored different test images or degradations "
                    f"({key}: {first[key]!r} vs {row[key]!r}); compare runs of one prepared dataset and "
                    "one eval.seed / eval.robustness.max_images")


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return float(np.mean(values)) if values else None


def _group(share: float, rows: list[dict]) -> dict[str, Any]:
    """Mean of each column over the group's runs (seeds), the runs' spread, the mean per-image swing."""
    group = {"capture_preset": share, "runs": [r["run"] for r in rows], "n_runs": len(rows)}
    for key, _ in COLUMNS:
        group[key] = _mean(r[key] for r in rows)
        group[f"{key}_range"] = [min(r[key] for r in rows), max(r[key] for r in rows)] if all(
            r[key] is not None for r in rows) else None
    group["per_image_swing_pp"] = np.mean([r["per_image_swing_pp"] for r in rows], axis=0).round(3).tolist()
    return group


def _effect(reference: dict, other: dict) -> dict[str, Any]:
    """``other`` minus ``reference`` per column, plus the paired Wilcoxon test on per-image swings."""
    from scipy.stats import wilcoxon

    diff = np.asarray(other["per_image_swing_pp"]) - np.asarray(reference["per_image_swing_pp"])
    p_value = float(wilcoxon(diff).pvalue) if np.any(diff != 0) else 1.0
    effect = {"capture_preset": other["capture_preset"], "vs_capture_preset": reference["capture_preset"],
              "median_per_image_swing_change_pp": float(np.median(diff)),
              "images_steadier": float(np.mean(diff < 0)), "wilcoxon_p": p_value}
    for key, _ in COLUMNS:
        a, b = reference[key], other[key]
        effect[f"{key}_change"] = None if a is None or b is None else float(b - a)
    steadier = (np.median(diff) or np.mean(diff)) < 0  # direction; the median can be 0 when most images tie
    if p_value >= ALPHA:
        effect["verdict"] = "no measurable difference in swing"
    else:
        effect["verdict"] = "steadier with the preset" if steadier else "less steady with the preset"
    sens = effect["sensitivity_change"]
    effect["costs_sensitivity"] = bool(sens is not None and sens < 0)
    return effect


def compare_robustness(reports: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Compare runs trained with different capture-preset shares (0 = without).

    Args:
        reports: run id (or any label) -> that run's report.json.

    Returns:
        JSON-ready dict: ``runs`` (one row per run), ``groups`` (one per preset share, means over its
        runs, lowest share first), ``effects`` (each other share against the lowest: changes and the
        paired test), ``n_images`` and the disclaimer.

    Raises:
        ValueError: a run without a robustness report (named), runs scored on different images, or
            fewer than two preset shares to compare.
    """
    if len(reports) < 2:
        raise ValueError(f"compare at least two runs (got {len(reports)})")
    rows = [run_summary(report, run) for run, report in reports.items()]
    _check_paired(rows)
    shares = sorted({r["capture_preset"] for r in rows})
    if len(shares) < 2:
        raise ValueError(f"all runs trained with capture preset share {shares[0]}: nothing to compare "
                         "(train one with +data.augment.capture=0 and one with e.g. 0.5)")
    groups = [_group(s, [r for r in rows if r["capture_preset"] == s]) for s in shares]
    return {
        "n_images": rows[0]["pairing"]["n_images"],
        "degradations": rows[0]["pairing"]["degradations"],
        "runs": [{k: v for k, v in r.items() if k != "per_image_swing_pp"} for r in rows],
        "groups": groups,
        "effects": [_effect(groups[0], g) for g in groups[1:]],
        "disclaimer": DISCLAIMER,
    }


def _cell(key: str, value) -> str:
    if value is None:
        return "n/a"
    return f"{100 * value:.1f}%" if key == "flip_rate" else (f"{value:.1f}" if key.endswith("_pp") else f"{value:.3f}")


def _change(key: str, value) -> str:
    if value is None:
        return "n/a"
    if key == "flip_rate":
        return f"{100 * value:+.1f} pp"
    return f"{value:+.1f} pp" if key.endswith("_pp") else f"{value:+.3f}"


def _share(share: float) -> str:
    return f"capture {share:g}" if share else "without preset"


def effect_sentence(effect: dict) -> str:
    """One plain sentence on an effect (used by the table, the CLI and the model card)."""
    text = (f"{_share(effect['capture_preset'])} vs {_share(effect['vs_capture_preset'])}: {effect['verdict']} "
            f"(median per-image swing change {effect['median_per_image_swing_change_pp']:+.1f} pp, "
            f"Wilcoxon p = {effect['wilcoxon_p']:.3g}); verdict flips {_change('flip_rate', effect['flip_rate_change'])}, "
            f"sensitivity {_change('sensitivity', effect['sensitivity_change'])}.")
    if effect["costs_sensitivity"]:
        text += (" Sensitivity is lower with the preset (more missed melanomas): check the per-run rows before "
                 "adopting it.")
    return text


def comparison_markdown(comparison: dict) -> str:
    """The comparison table (one row per run, then the mean per preset share) and its verdicts."""
    header = "| run | capture preset | " + " | ".join(h for _, h in COLUMNS) + " |"
    lines = ["## Capture-preset robustness comparison", "",
             f"{comparison['n_images']} test images x {len(comparison['degradations'])} capture-condition "
             "degradations; swing = max - min malignant probability per image, in percentage points.", "",
             header, "|" + "---|" * (len(COLUMNS) + 2)]
    for r in comparison["runs"]:
        lines.append(f"| {r['run']} | {r['capture_preset']:g} | " + " | ".join(_cell(k, r[k]) for k, _ in COLUMNS) + " |")
    for g in comparison["groups"] if max(g["n_runs"] for g in comparison["groups"]) > 1 else []:
        lines.append(f"| **mean of {g['n_runs']}** | **{g['capture_preset']:g}** | "
                     + " | ".join(_cell(k, g[k]) for k, _ in COLUMNS) + " |")
    lines += ["", *[f"- {effect_sentence(e)}" for e in comparison["effects"]], "", f"_{DISCLAIMER}_", ""]
    return "\n".join(lines)


def plot_comparison(comparison: dict, path) -> Path:
    """Per-image swing distributions side by side, and flip rate / sensitivity per preset share."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = comparison["groups"]
    labels = [_share(g["capture_preset"]) for g in groups]
    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.8), gridspec_kw={"width_ratios": [3, 2]})
    a.violinplot([g["per_image_swing_pp"] for g in groups], showmedians=True)
    a.boxplot([g["per_image_swing_pp"] for g in groups], widths=0.12, showfliers=False)
    a.set_xticks(range(1, len(groups) + 1), labels)
    a.set_ylabel("swing of malignant probability (pp)")
    a.set_title("per test image (mean over the runs of a setting)", fontsize=9)
    x = np.arange(len(groups))
    b.bar(x - 0.2, [100 * g["flip_rate"] for g in groups], 0.4, label="verdict flips (%)", color="tab:orange")
    b.bar(x + 0.2, [100 * (g["sensitivity"] or 0) for g in groups], 0.4, label="sensitivity (%)", color="tab:blue")
    b.set_xticks(x, labels)
    b.set_ylim(0, 100)
    b.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncol=2)
    fig.suptitle("Capture augmentation preset: phone-photo robustness vs sensitivity", fontsize=10)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def write_comparison(comparison: dict, out_dir) -> dict[str, Path]:
    """``comparison.json``, ``comparison.md`` and ``comparison.png`` in ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "comparison.json").write_text(json.dumps(comparison, indent=2), encoding="utf-8")
    (out / "comparison.md").write_text(comparison_markdown(comparison), encoding="utf-8")
    return {"json": out / "comparison.json", "markdown": out / "comparison.md",
            "plot": plot_comparison(comparison, out / "comparison.png")}


def mlflow_metrics(comparison: dict) -> dict[str, float]:
    """Flat metrics of the first effect (``robustness_comparison/<column>_change``, ``.../wilcoxon_p``)."""
    effect = comparison["effects"][0]
    keys = [f"{k}_change" for k, _ in COLUMNS] + ["median_per_image_swing_change_pp", "wilcoxon_p"]
    return {f"robustness_comparison/{k}": float(effect[k]) for k in keys if effect.get(k) is not None}


def card_summary(comparison: dict, run: str) -> dict[str, Any]:
    """The compact model.json entry for one compared run: its group, the others, the effects."""
    mine = next(r for r in comparison["runs"] if r["run"] == run)
    keep = ["capture_preset", "n_runs", *(k for k, _ in COLUMNS)]
    return {"this_model_capture_preset": mine["capture_preset"], "n_images": comparison["n_images"],
            "groups": [{k: g[k] for k in keep} for g in comparison["groups"]],
            "effects": comparison["effects"], "runs": [r["run"] for r in comparison["runs"]]}


def card_lines(summary: dict | None) -> list[str]:
    """MODEL_CARD.md section for a model.json ``robustness_comparison`` entry (empty when none)."""
    if not summary:
        return []
    share = summary["this_model_capture_preset"]
    lines = ["## Capture augmentation preset: measured effect", "",
             f"This model trained {'with the capture preset on ' + format(share, '.0%') + ' of images' if share else 'without the capture preset'}"
             f". Models trained with and without it were scored on the same {summary['n_images']} test images "
             "(per setting, the mean over its runs):", "",
             "| capture preset | runs | " + " | ".join(h for _, h in COLUMNS) + " |",
             "|" + "---|" * (len(COLUMNS) + 2)]
    for g in summary["groups"]:
        lines.append(f"| {g['capture_preset']:g}{' (this model)' if g['capture_preset'] == share else ''} | "
                     f"{g['n_runs']} | " + " | ".join(_cell(k, g[k]) for k, _ in COLUMNS) + " |")
    lines += ["", *[f"- {effect_sentence(e)}" for e in summary["effects"]], ""]
    return lines
