"""The optional not-a-lesion check of a bundle (model.json ``ood``, file ``ood.tflite``).

``ood.tflite`` takes the same preprocessed image as the classifier and returns one not-a-lesion
score; at or above model.json ``ood.threshold`` the photo "does not look like a skin-lesion photo"
and the answer carries the quality issue ``not_a_lesion`` (the advice then leads with "retake").
The score's meaning is the bundle's business (``ood.method``/``ood.output``: the lesion gate's
probability, or a squared Mahalanobis distance); bundles written before ``threshold`` existed carry
``threshold_squared`` for their squared distance, and it is read the same way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from serving.model import BundleError, Interpreter, optional_bundle_file


class OODScorer:
    """``ood.tflite`` on one shared `serving.model.Interpreter`, and the threshold it is read against."""

    def __init__(self, bundle_dir: Path, entry: dict[str, Any], *, threads: int = 2):
        threshold = entry.get("threshold", entry.get("threshold_squared"))
        if threshold is None:
            raise BundleError(f"model.json ood lacks threshold (bundle {bundle_dir})")
        self.threshold = float(threshold)
        self.issue = str(entry.get("quality_issue", "not_a_lesion"))
        self.runner = Interpreter(Path(bundle_dir) / str(entry.get("file", "ood.tflite")), threads=threads,
                                  what="model.json ood.file")

    def score(self, image: np.ndarray) -> float:
        """The not-a-lesion score of one preprocessed image ``(H, W, 3)`` float32 0-255."""
        return float(self.runner.run(image)[0].reshape(-1)[0])

    def issues(self, image: np.ndarray) -> list[str]:
        """``["not_a_lesion"]`` when the image is out of distribution, else ``[]``."""
        return [self.issue] if self.score(image) >= self.threshold else []


def load_ood(bundle_dir: Path, spec: dict[str, Any], *, threads: int = 2) -> OODScorer | None:
    """The bundle's scorer, or None when model.json has no ``ood`` entry (older bundles).

    A deployment that copied model.json but not ``ood.tflite`` still serves the classifier (the
    check is an extra quality signal, not the verdict) and says so once in the log.
    """
    entry = spec.get("ood")
    if not entry or optional_bundle_file(bundle_dir, entry, "ood.tflite", "the not-a-lesion check") is None:
        return None
    return OODScorer(bundle_dir, entry, threads=threads)
