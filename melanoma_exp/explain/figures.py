"""Pictures of one verdict and where the model looked: the overlay with its colour bar, and a contact
sheet of many. The overlay itself (map upsampled, coloured, blended) is serving's
(`serving.explain.overlay`), drawn once; these only frame it with the verdict and the disclaimer."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from melanoma_exp import DISCLAIMER


@dataclass(frozen=True)
class Explained:
    """One explained photo: its name, the overlay (uint8 RGB) and the endpoint's answer."""

    name: str
    overlay: np.ndarray
    answer: dict


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _colormap():
    """serving's piecewise-linear jet as a matplotlib colour map, so the bar shows the overlay's colours."""
    from matplotlib.colors import ListedColormap

    from serving.explain import jet

    return ListedColormap(jet(np.linspace(0.0, 1.0, 256)), name="serving_jet")


def verdict_line(answer: dict) -> str:
    """``malignant, P(malignant) 0.81 (threshold 0.42)`` — the verdict as the endpoint gave it."""
    return (f"{answer['label']}, P(malignant) {answer['malignant_probability']:.2f} "
            f"(threshold {answer['threshold']:.2f})")


def explain_figure(item: Explained, path: Path) -> Path:
    """A PNG: the overlay, a colour bar (how much each region weighed in the verdict), the verdict, the
    advice, the photo-quality issues and the disclaimer."""
    plt = _pyplot()
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    fig, ax = plt.subplots(figsize=(5.2, 6.4))
    ax.imshow(item.overlay)
    ax.set_axis_off()
    ax.set_title(f"{item.name}\n{verdict_line(item.answer)}", fontsize=9)
    bar = fig.colorbar(ScalarMappable(Normalize(0, 1), _colormap()), ax=ax, fraction=0.046, pad=0.03)
    bar.set_label("weight in this verdict (Grad-CAM, 0-1)", fontsize=8)
    issues = item.answer["quality"]["issues"]
    lines = [*textwrap.wrap(f"Advice: {item.answer['recommendation']['text']}", 88),
             f"Photo quality: {', '.join(issues) if issues else 'ok'}",
             *textwrap.wrap(item.answer.get("disclaimer") or DISCLAIMER, 88)]
    fig.text(0.02, 0.01, "\n".join(lines), fontsize=6.5, va="bottom", wrap=True)
    fig.subplots_adjust(bottom=0.06 + 0.022 * len(lines), top=0.9)
    fig.savefig(path, dpi=110, bbox_inches="tight", pad_inches=0.15)
    plt.close(fig)
    return path


def contact_sheet(items: Sequence[Explained], path: Path, *, columns: int = 5) -> Path:
    """A PNG grid of overlays, each titled with its name and verdict, disclaimer at the foot."""
    plt = _pyplot()
    columns = max(1, min(columns, len(items)))
    rows = max(1, -(-len(items) // columns))
    fig, axes = plt.subplots(rows, columns, figsize=(2.6 * columns, 2.9 * rows + 0.4), squeeze=False)
    for ax in axes.ravel():
        ax.set_axis_off()
    for ax, item in zip(axes.ravel(), items, strict=False):
        ax.imshow(item.overlay)
        answer = item.answer
        flag = " (retake)" if answer["quality"]["issues"] else ""
        ax.set_title(f"{item.name[:28]}\n{answer['label']} p={answer['malignant_probability']:.2f}{flag}",
                     fontsize=7)
    fig.text(0.01, 0.005, f"Where the model looked (Grad-CAM). {DISCLAIMER}", fontsize=6, color="gray")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
