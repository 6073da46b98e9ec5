"""The optional not-a-lesion check of a bundle (model.json ``ood``, file ``ood.tflite``).

``ood.tflite`` takes the same preprocessed image as the classifier and returns the squared
Mahalanobis distance of its backbone features to the training lesions; at or above
``threshold_squared`` the photo "does not look like a skin-lesion photo" and the answer carries the
quality issue ``not_a_lesion`` (the verdict is still given, with "retake the photo" first).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import numpy as np

from serving.model import BundleError


class OODScorer:
    """One LiteRT interpreter for ``ood.tflite``; a lock serialises calls."""

    def __init__(self, bundle_dir: Path, entry: dict[str, Any], *, threads: int = 2):
        from ai_edge_litert.interpreter import Interpreter

        path = Path(bundle_dir) / str(entry.get("file", "ood.tflite"))
        if not path.is_file():
            raise BundleError(f"bundle file {path} is missing (model.json ood.file)")
        if "threshold_squared" not in entry:
            raise BundleError(f"model.json ood lacks threshold_squared (bundle {bundle_dir})")
        self.threshold_squared = float(entry["threshold_squared"])
        self.issue = str(entry.get("quality_issue", "not_a_lesion"))
        self.interpreter = Interpreter(model_path=str(path), num_threads=threads)
        self.interpreter.allocate_tensors()
        self._input = self.interpreter.get_input_details()[0]
        self._output = self.interpreter.get_output_details()[0]
        self._lock = threading.Lock()

    def distance_squared(self, image: np.ndarray) -> float:
        """Squared Mahalanobis distance for one preprocessed image ``(H, W, 3)`` float32 0-255."""
        batch = np.ascontiguousarray(image[np.newaxis], dtype=np.float32)
        with self._lock:
            self.interpreter.set_tensor(self._input["index"], batch)
            self.interpreter.invoke()
            return float(self.interpreter.get_tensor(self._output["index"]).reshape(-1)[0])

    def issues(self, image: np.ndarray) -> list[str]:
        """``["not_a_lesion"]`` when the image is out of distribution, else ``[]``."""
        return [self.issue] if self.distance_squared(image) >= self.threshold_squared else []


def load_ood(bundle_dir: Path, spec: dict[str, Any], *, threads: int = 2) -> OODScorer | None:
    """The bundle's scorer, or None when model.json has no ``ood`` entry (older bundles).

    A deployment that copied model.json but not ``ood.tflite`` still serves the classifier (the
    check is an extra quality signal, not the verdict) and says so once in the log.
    """
    entry = spec.get("ood")
    if not entry:
        return None
    if not (Path(bundle_dir) / str(entry.get("file", "ood.tflite"))).is_file():
        logging.getLogger(__name__).warning(
            "model.json names %s but the bundle %s lacks it: serving without the not-a-lesion check",
            entry.get("file"), bundle_dir)
        return None
    return OODScorer(bundle_dir, entry, threads=threads)
