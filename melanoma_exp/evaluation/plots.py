"""PNG plots of a run: training curves (both phases), ROC, precision-recall, confusion matrix.

Every figure carries the short not-medical-advice note in its footer.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers/CI
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from sklearn.metrics import precision_recall_curve, roc_curve  # noqa: E402

FOOTER = "Research tool, not medical advice."
CURVES = ("loss", "accuracy", "auc", "recall_malignant")


def _save(fig, path: Path) -> Path:
    fig.text(0.01, 0.005, FOOTER, fontsize=7, color="gray")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_training_curves(history: list[dict], boundary_epoch: int | None, path: Path) -> Path:
    """Train vs val per metric over all epochs, with a line where the backbone was unfrozen."""
    fig, axes = plt.subplots(1, len(CURVES), figsize=(4 * len(CURVES), 3.4))
    epochs = [row["epoch"] + 1 for row in history]
    for ax, stem in zip(axes, CURVES, strict=True):
        for split in ("train", "val"):
            values = [row.get(f"{split}/{stem}", np.nan) for row in history]
            ax.plot(epochs, values, marker="o", ms=3, label=split)
        if boundary_epoch is not None and history and boundary_epoch < len(history) + history[0]["epoch"]:
            ax.axvline(boundary_epoch + 0.5, color="gray", ls="--", lw=1, label="unfreeze")
        ax.set_title(stem)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(fontsize=7)
    return _save(fig, path)


def plot_roc(y_true, model_prob, baseline_prob, path: Path) -> Path:
    """ROC of the model and of the dummy baseline (the diagonal)."""
    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    for name, prob in (("model", model_prob), ("baseline", baseline_prob)):
        if len(set(np.asarray(y_true).tolist())) > 1:
            fpr, tpr, _ = roc_curve(y_true, prob)
            ax.plot(fpr, tpr, label=name)
    ax.plot([0, 1], [0, 1], color="lightgray", ls=":")
    ax.set_xlabel("1 - specificity (false positive rate)")
    ax.set_ylabel("sensitivity (true positive rate)")
    ax.set_title("ROC (test)")
    ax.legend()
    return _save(fig, path)


def plot_pr(y_true, model_prob, baseline_prob, path: Path) -> Path:
    """Precision-recall curves of the model and the baseline; malignant is the positive class."""
    fig, ax = plt.subplots(figsize=(4.2, 4.2))
    for name, prob in (("model", model_prob), ("baseline", baseline_prob)):
        precision, recall, _ = precision_recall_curve(y_true, prob)
        ax.plot(recall, precision, label=name)
    ax.set_xlabel("recall (malignant)")
    ax.set_ylabel("precision (malignant)")
    ax.set_title("Precision-recall (test)")
    ax.legend()
    return _save(fig, path)


def plot_confusion(matrix, path: Path, title: str = "Confusion matrix (test)") -> Path:
    """2x2 confusion matrix with counts; rows = truth, columns = prediction."""
    matrix = np.asarray(matrix)
    fig, ax = plt.subplots(figsize=(4, 3.6))
    ax.imshow(matrix, cmap="Blues")
    for (row, col), count in np.ndenumerate(matrix):
        colour = "white" if count > matrix.max() / 2 else "black"
        ax.text(col, row, str(count), ha="center", va="center", color=colour)
    ax.set_xticks([0, 1], ["benign", "malignant"])
    ax.set_yticks([0, 1], ["benign", "malignant"])
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    return _save(fig, path)
