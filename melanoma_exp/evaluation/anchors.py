"""Published numbers to read a test AUC against (the demo's summary, docs/evaluation.md).

Each anchor names its data and size: a number on 84 images of one collection and a number on
thousands of archive images are different things, and the summary prints them side by side so nobody
mistakes one for the other. AUC is the ranking quality (threshold-free); sensitivity/specificity are
at the anchor's own threshold.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Anchor:
    """One published result."""

    who: str
    data: str
    auc: float | None = None
    sensitivity: float | None = None
    specificity: float | None = None


ANCHORS: tuple[Anchor, ...] = (
    Anchor("thesis, Table 4.10, EfficientNetV2B3",
           "ISIC archive, ~20,000 images under-sampled, 20 % test split, verdicts at 0.5 (AUC not reported)",
           sensitivity=0.877, specificity=0.835),
    Anchor("ISIC 2016 challenge, fusion of the 25 algorithms (Marchetti et al., JAAD 2018)",
           "100 of the challenge's 379 test images (benign vs melanoma; 900 training images)", auc=0.86),
    Anchor("ISIC 2016 challenge, eight dermatologists, mean (Marchetti et al., JAAD 2018)",
           "the same 100 test images", auc=0.71),
    Anchor("ImageNet CNN fine-tuned on dermoscopy (Menegola et al., ISBI 2017), set 1",
           "melanoma vs rest, one of two test sets", auc=0.807),
    Anchor("ImageNet CNN fine-tuned on dermoscopy (Menegola et al., ISBI 2017), set 2",
           "melanoma vs rest, the other test set", auc=0.845),
)


def anchor_lines() -> list[str]:
    """The anchors as aligned text lines (AUC, sensitivity, specificity, what and on which data)."""
    cell = lambda v: f"{v:6.3f}" if v is not None else f"{'-':>6}"  # noqa: E731
    lines = [f"  {'AUC':>6} {'sens':>6} {'spec':>6}  published result (data)"]
    for a in ANCHORS:
        lines.append(f"  {cell(a.auc)} {cell(a.sensitivity)} {cell(a.specificity)}  {a.who} ({a.data})")
    return lines
