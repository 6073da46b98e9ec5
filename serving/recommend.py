"""Turn a probability into advice with the bundle's recommendation bands (one rule for any threshold).

model.json `recommendation_bands` (rule `threshold_fraction`): p(malignant) >= the decision threshold t
is the malignant verdict and gets the malignant advice; a benign verdict gets the first benign band
(ordered by `max_threshold_fraction`) with p <= max_threshold_fraction * t, the last band (fraction 1)
taking the rest below t. Fractions rise strictly and severities never fall, so for every t in (0, 1)
each band is reachable and a higher probability never gets milder advice. The app's `Advisor` applies
the same rule to the same model.json.
"""

from __future__ import annotations

from typing import Any

from serving.quality import ISSUE_TEXT

RULE = "threshold_fraction"
# How a not-a-lesion answer's advice starts (the app's Advisor uses the same words).
NOT_A_LESION_LEAD = "This does not look like a photo of a skin lesion — retake the photo. "


def check_bands(bands: dict[str, Any]) -> None:
    """Raise ValueError naming the offending key when ``bands`` break the rule's guarantees."""
    where = "recommendation_bands"
    if bands.get("rule") != RULE:
        raise ValueError(f"{where}.rule must be {RULE!r}, got {bands.get('rule')!r} "
                         "(a bundle exported before the bands followed the threshold: export it again)")
    benign = bands.get("benign") or []
    if not benign:
        raise ValueError(f"{where}.benign is empty")
    for key in ("malignant", "retake"):
        if not isinstance(bands.get(key), dict) or not bands[key].get("text"):
            raise ValueError(f"{where}.{key} needs a level and a text")
    fractions = [float(b["max_threshold_fraction"]) for b in benign]
    if any(not 0.0 < f <= 1.0 for f in fractions) or any(a >= b for a, b in zip(fractions, fractions[1:], strict=False)):
        raise ValueError(f"{where}.benign[*].max_threshold_fraction must rise strictly within (0, 1], "
                         f"got {fractions}")
    if fractions[-1] != 1.0:
        raise ValueError(f"{where}.benign[-1].max_threshold_fraction must be 1.0 (every benign verdict "
                         f"gets a band), got {fractions[-1]}")
    severities = [int(b["severity"]) for b in benign] + [int(bands["malignant"]["severity"])]
    if any(a > b for a, b in zip(severities, severities[1:], strict=False)):
        raise ValueError(f"{where}: severity must never fall as p(malignant) rises (benign bands in order, "
                         f"then malignant), got {severities}")


def advice_band(malignant_probability: float, threshold: float, bands: dict[str, Any]) -> tuple[str, dict]:
    """``(label, band)`` for one probability: the rule of the module docstring, nothing else."""
    if malignant_probability >= threshold:
        return "malignant", bands["malignant"]
    for band in bands["benign"]:
        if malignant_probability <= float(band["max_threshold_fraction"]) * threshold:
            return "benign", band
    return "benign", bands["benign"][-1]  # float rounding just below t


def recommend(malignant_probability: float, threshold: float, bands: dict[str, Any],
              quality_issues: list[str]) -> tuple[str, dict[str, str]]:
    """Return ``(label, {"level", "text"})`` for one prediction.

    A failed quality gate puts "retake the photo" first but keeps the band's advice, so a bad photo
    never hides a worrying result. A photo that is not a lesion leads with exactly that
    (`NOT_A_LESION_LEAD`), never with the band's advice.
    """
    label, advice = advice_band(malignant_probability, threshold, bands)
    if quality_issues:
        retake = bands["retake"]
        problems = "; ".join(ISSUE_TEXT.get(issue, issue) for issue in quality_issues)
        lead = NOT_A_LESION_LEAD if "not_a_lesion" in quality_issues else ""
        return label, {"level": retake["level"],
                       "text": f"{lead}{retake['text']} (Problem: {problems}.) Meanwhile: {advice['text']}"}
    return label, {"level": advice["level"], "text": advice["text"]}
