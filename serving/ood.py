"""The optional not-a-lesion check of a bundle (model.json ``ood``, file ``ood.tflite``).

``ood.tflite`` takes the same preprocessed image as the classifier and returns one not-a-lesion
score; at or above model.json ``ood.threshold`` the photo "does not look like a skin-lesion photo"
and the answer carries the quality issue ``not_a_lesion`` (the advice then leads with "retake").
The score's meaning is the bundle's business (``ood.method``/``ood.output``: the lesion gate's
probability, or a squared Mahalanobis distance); bundles written before ``threshold`` existed carry
``threshold_squared`` for their squared distance, and it is read the same way.
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
        threshold = entry.get("threshold", entry.get("threshold_squared"))
        if threshold is None:
            raise BundleError(f"model.json ood lacks threshold (bundle {bundle_dir})")
        self.threshold = float(threshold)
        self.issue = str(entry.get("quality_issue", "not_a_lesion"))
        self.interpreter = Interpreter(model_path=str(path), num_threads=threads)
        self.interpreter.allocate_tensors()
        self._input = self.interpreter.get_input_details()[0]
        self._output = self.interpreter.get_output_details()[0]
        self._lock = threading.Lock()

    def score(self, image: np.ndarray) -> float:
        """The not-a-lesion score of one preprocessed image ``(H, W, 3)`` float32 0-255."""
        batch = np.ascontiguousarray(image[np.newaxis], dtype=np.float32)
        with self._lock:
            self.interpreter.set_tensor(self._input["index"], batch)
            self.interpreter.invoke()
            return float(self.interpreter.get_tensor(self._output["index"]).reshape(-1)[0])

    def issues(self, image: np.ndarray) -> list[str]:
        """``["not_a_lesion"]`` when the image is out of distribution, else ``[]``."""
        return [self.issue] if self.score(image) >= self.threshold else []


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
