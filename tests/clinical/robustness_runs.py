"""Run reports for the capture-preset comparison tests: NumPy "models" keyed to brightness, scored
by the real `robustness_report`, written the way the trainer and the clinical hook write report.json."""

import numpy as np

from melanoma_exp.evaluation.metrics import classification_metrics
from melanoma_exp.evaluation.robustness import robustness_report

from .tiny_models import smooth_images

IMAGES = smooth_images(n=24, seed=3)
LABELS = (IMAGES.mean(axis=(1, 2, 3)) > 128).astype(int)


def brightness_predict(scale: float, centre: float = 128.0):
    """P(malignant) = sigmoid((mean grey - centre) / scale): a larger scale is a steadier model."""
    return lambda x: 1 / (1 + np.exp(-(np.asarray(x).mean(axis=(1, 2, 3)) - centre) / scale))


def run_report(predict, share: float, *, threshold=0.5, prepared="/data/prepared/demo", images=IMAGES) -> dict:
    """A report.json as the trainer + clinical hook write it (test metrics, clinical.robustness)."""
    robustness = robustness_report(predict, images, threshold, progress=False)
    robustness["trained_with_capture_preset"] = share
    return {"threshold": threshold, "data": {"prepared_dir": prepared},
            "test": classification_metrics(LABELS[: len(images)], predict(images), threshold),
            "clinical": {"robustness": robustness}}
