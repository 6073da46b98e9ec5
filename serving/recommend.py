"""Turn a probability into advice, using the bundle's recommendation bands (thesis Table 5.1)."""

from __future__ import annotations

from typing import Any

from serving.quality import ISSUE_TEXT


def recommend(malignant_probability: float, threshold: float, bands: dict[str, Any],
              quality_issues: list[str]) -> tuple[str, dict[str, str]]:
    """Return ``(label, {"level", "text"})`` for one prediction.

    A malignant verdict always gets the malignant advice (retake, then seek care promptly); a benign
    verdict is placed in the first band whose ``min_benign_probability`` it reaches. A failed quality
    gate puts "retake the photo" first but keeps the band's advice, so a bad photo never hides a
    worrying result.
    """
    label = "malignant" if malignant_probability >= threshold else "benign"
    if label == "malignant":
        advice = dict(bands["malignant"])
    else:
        benign_probability = 1.0 - malignant_probability
        ordered = sorted(bands["benign"], key=lambda band: band["min_benign_probability"], reverse=True)
        advice = next((dict(b) for b in ordered if benign_probability >= b["min_benign_probability"]),
                      dict(ordered[-1]))
    if quality_issues:
        retake = bands["retake"]
        problems = "; ".join(ISSUE_TEXT.get(issue, issue) for issue in quality_issues)
        return label, {"level": retake["level"],
                       "text": f"{retake['text']} (Problem: {problems}.) Meanwhile: {advice['text']}"}
    return label, {"level": advice["level"], "text": advice["text"]}
