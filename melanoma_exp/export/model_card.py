"""Render MODEL_CARD.md from a bundle's model.json: data, metrics vs baseline, limitations."""

from __future__ import annotations

from typing import Any

from melanoma_exp.evaluation.robustness_compare import card_lines as comparison_card_lines
from melanoma_exp.export.clinical_summary import model_card_lines, ood_card_warning

# Metrics shown in the card, in this order; sensitivity first because a missed melanoma costs most.
CARD_METRICS = [
    ("sensitivity", "Sensitivity (malignant recall)"),
    ("specificity", "Specificity"),
    ("auc", "ROC AUC"),
    ("pr_auc", "PR AUC"),
    ("accuracy", "Accuracy"),
    ("precision_malignant", "Precision (malignant)"),
    ("f2_malignant", "F2 (malignant)"),
]


def _fmt(value: Any) -> str:
    """Format a metric value for the table (missing → n/a)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:.3f}"
    return "n/a"


def _metrics_table(test: dict[str, Any], baseline: dict[str, Any]) -> list[str]:
    """Markdown table of the held-out test metrics against the dummy baseline."""
    rows = ["| Metric | Model | Dummy baseline |", "|---|---|---|"]
    for key, label in CARD_METRICS:
        if key in test or key in baseline:
            rows.append(f"| {label} | {_fmt(test.get(key))} | {_fmt(baseline.get(key))} |")
    if len(rows) == 2:
        rows.append("| (no test metrics were recorded for this model) | n/a | n/a |")
    if "n" in test:
        rows.append(f"\nTest images: {test['n']}.")
    return rows


def _data_lines(data: dict[str, Any]) -> list[str]:
    """A few lines on the training data, whatever the report recorded."""
    if not data:
        return ["Not recorded in the training report."]
    headline = []
    if data.get("kind"):
        headline.append(f"**Trained on: {data['kind']}, {data.get('total', '?')} images.** Test metrics below are "
                        "on the held-out split of the same data, not on other clinics or cameras.")
    if data.get("grouping"):
        headline.append(f"- Split: {data['grouping']['note']}.")
    return headline + [f"- **{key}**: {value}" for key, value in data.items() if not isinstance(value, dict | list)] + [
        f"- **{key}**: `{value}`" for key, value in data.items() if isinstance(value, dict | list)
    ]


def _tta_lines(tta: dict[str, Any] | None) -> list[str]:
    """The test-time augmentation baked into the exported files (`melanoma export --tta`), if any."""
    if not tta:
        return []
    return [f"- Test-time augmentation inside the model: the average of {tta['model_calls']} views "
            f"({', '.join(tta['transforms'])}). {tta['note']}"]


def _explain_lines(explain: dict[str, Any] | None) -> list[str]:
    """explain.tflite (Grad-CAM in the graph): what it returns and what it adds to the bundle."""
    if not explain:
        return ["- No explain.tflite: this model cannot show where it looked (see the export log)."]
    grid = explain["outputs"]["heatmap"]["shape"][1:]
    return [f"- explain.tflite ({explain['size_bytes'] / 2**20:.1f} MiB, float32): the probability and the "
            f"Grad-CAM map of {explain['layer']} ({grid[0]}x{grid[1]}), gradient inside the graph; "
            "`?explain=1` on /v1/predict, `melanoma explain`, the browser page and the app draw it. The bundle "
            f"grows by its size."]


def render_model_card(spec: dict[str, Any]) -> str:
    """Return the MODEL_CARD.md text for a model.json dict."""
    inp = spec["input"]
    metrics = spec.get("metrics") or {}
    lines = [
        f"# Model card: {spec['name']} v{spec['version']}",
        "",
        f"> **Not medical advice.** {spec['disclaimer']}",
        "",
        "## Model",
        f"- Architecture: {spec.get('architecture') or 'unknown'}",
        f"- Source MLflow run: {spec.get('source_run_id') or 'n/a'}",
        f"- Exported: {spec['created']}",
        f"- Input: RGB float32 0-255, {inp['height']}x{inp['width']} "
        f"({inp['resize_method']} resize, EXIF orientation applied first); normalisation is "
        "inside the model.",
        f"- Output: probability of malignant; decision threshold {spec['decision_threshold']:.3f}.",
        "- Files: model.keras (reference), model.tflite (float32), model_int8.tflite "
        "(dynamic-range quantized, on-device default).",
        *_tta_lines(spec.get("tta")),
        *_explain_lines(spec.get("explain")),
        *ood_card_warning(spec.get("ood")),
        "",
        "## Intended use",
        spec["intended_use"],
        "",
        "## Training data",
        *_data_lines(spec.get("training_data") or {}),
        "",
        "## Metrics on the held-out test split",
        *_metrics_table(metrics.get("test") or {}, metrics.get("baseline") or {}),
        "",
        "A missed melanoma costs more than a false alarm, so sensitivity is the first number to read.",
        "",
        *model_card_lines(spec.get("clinical")),
        *comparison_card_lines(spec.get("robustness_comparison")),
        "## Limitations",
        *[f"- {item}" for item in spec["limitations"]],
        "",
        *_on_device_lines(spec.get("on_device")),
        "## Recommendations shown to users",
        f"At this bundle's decision threshold t = {spec['decision_threshold']:.4g} (benign bands are fractions "
        "of t, so every band is reachable at any threshold):",
        *_band_lines(spec["recommendation_bands"], float(spec["decision_threshold"])),
        "",
    ]
    return "\n".join(lines)


def _band_lines(bands: dict[str, Any], threshold: float) -> list[str]:
    lines, low = [], 0.0
    for band in bands["benign"]:
        high = float(band["max_threshold_fraction"]) * threshold
        edge = f"< {high:.3g}" if band is bands["benign"][-1] else f"<= {high:.3g}"
        lines.append(f"- p(malignant) {low:.3g} .. {edge} ({band['level']}): {band['text']}")
        low = high
    lines.append(f"- p(malignant) >= {threshold:.3g} (malignant verdict, {bands['malignant']['level']}): "
                 f"{bands['malignant']['text']}")
    return lines


def _on_device_lines(entry: dict[str, Any] | None) -> list[str]:
    """Float vs int8 LiteRT (the app's on-device model) on the test split, or why it was not measured."""
    if not entry:
        return []
    lines = ["## On-device model: float vs int8", ""]
    if not entry.get("measured"):
        return [*lines, f"Not measured: {entry['reason']}.", ""]

    def cell(scores: dict, key: str) -> str:
        return "n/a" if scores.get(key) is None else f"{scores[key]:.3f}"

    lines += [
        f"On the test split ({entry['n']} images) at the decision threshold {entry['threshold']:.4g}:",
        "",
        "| model | sensitivity | specificity | AUC |",
        "|---|---|---|---|",
        *[f"| {name} | {cell(entry[name], 'sensitivity')} | {cell(entry[name], 'specificity')} | "
          f"{cell(entry[name], 'auc')} |" for name in ("float", "int8")],
        "",
        f"max |Δp| {entry['max_abs_delta_p']:.4f}; decisions flipped by int8: {entry['flipped_decisions']} "
        f"({entry['flipped_share']:.1%}). The app runs the **{entry['recommended_model']}** model by default: "
        f"{entry['reason']}.",
        "",
    ]
    return lines
