"""Where the model looked: the bundle's Grad-CAM model (model.json ``explain``, ``explain.tflite``).

``explain.tflite`` takes the same preprocessed image as the classifier and returns its probability
and the Grad-CAM map of the last convolutional block at that block's resolution (7 x 7 for a 224 px
EfficientNet), already in [0, 1]; the gradient is part of the exported graph, so this needs only the
LiteRT interpreter. The overlay is drawn here and, with the same arithmetic, by the app's
``Overlay`` (mobile/core; parity-tested on shared fixtures): the map upsampled bilinearly (half-pixel
centres, edges clamped: TensorFlow's resize, which the training run's Grad-CAM uses) to the model
input, coloured with a piecewise-linear jet, blended over the pixels the model saw at model.json's
``explain.overlay.alpha``, each channel rounded half up.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import numpy as np

from serving.model import BundleError, Interpreter

NOTE = ("Where the model looked (Grad-CAM): warm colours weighed most in this verdict. It shows what the "
        "model used, not where a lesion is or whether it is malignant. Not medical advice.")


class ExplainModel:
    """One LiteRT interpreter for ``explain.tflite``; a lock serialises calls."""

    def __init__(self, bundle_dir: Path, entry: dict[str, Any], *, threads: int = 2):
        self.alpha = float((entry.get("overlay") or {}).get("alpha", 0.4))
        if not 0.0 <= self.alpha <= 1.0:
            raise BundleError(f"model.json explain.overlay.alpha must be in [0, 1], got {self.alpha}")
        self.method = str(entry.get("method", "grad-cam"))
        self.runner = Interpreter(Path(bundle_dir) / str(entry.get("file", "explain.tflite")), threads=threads,
                                  what="model.json explain.file")
        ranks = [len(out["shape"]) for out in self.runner.outputs]
        if sorted(ranks) != [2, 3]:
            raise BundleError(f"{self.runner.path}: expected outputs probability (1, 1) and heatmap (1, h, w), got "
                              f"{[tuple(o['shape']) for o in self.runner.outputs]}")
        self._heat, self._prob = ranks.index(3), ranks.index(2)

    def explain(self, image: np.ndarray) -> tuple[float, np.ndarray]:
        """``(P(malignant), heatmap (h, w) float32 0..1)`` for one preprocessed image ``(H, W, 3)``."""
        outputs = self.runner.run(image)
        heatmap, probability = outputs[self._heat][0], float(outputs[self._prob].reshape(-1)[0])
        return probability, np.nan_to_num(np.clip(heatmap, 0.0, 1.0))

    def explanation(self, image: np.ndarray, heatmap: np.ndarray | None = None) -> dict[str, Any]:
        """The answer's ``explanation``: the map (run now, or the ``heatmap`` `explain` gave for this
        image), and the overlay on ``image`` as a base64 PNG."""
        if heatmap is None:
            _, heatmap = self.explain(image)
        png = overlay_png(overlay(image, heatmap, self.alpha))
        return {
            "available": True,
            "method": self.method,
            "heatmap": {"height": int(heatmap.shape[0]), "width": int(heatmap.shape[1]),
                        "values": [[round(float(v), 4) for v in row] for row in heatmap]},
            "overlay_png": base64.b64encode(png).decode("ascii"),
            "overlay_size": [int(image.shape[1]), int(image.shape[0])],
            "note": NOTE,
        }


def load_explain(bundle_dir: Path, spec: dict[str, Any], *, threads: int = 2) -> ExplainModel | None:
    """The bundle's explanation model, or None when model.json has no ``explain`` entry."""
    entry = spec.get("explain")
    return ExplainModel(bundle_dir, entry, threads=threads) if entry else None


def unavailable(reason: str) -> dict[str, Any]:
    """The answer's ``explanation`` when none can be given (an older bundle, an ensemble)."""
    return {"available": False, "reason": reason, "note": NOTE}


def upsample(heatmap: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bilinear resize of ``(h, w)`` to ``(height, width)`` with half-pixel centres and clamped
    edges (as `tf.image.resize(..., "bilinear")`), in float64."""
    heatmap = np.asarray(heatmap, dtype=np.float64)
    rows = _axis_weights(heatmap.shape[0], height)
    cols = _axis_weights(heatmap.shape[1], width)
    (r0, r1, fr), (c0, c1, fc) = rows, cols
    top = heatmap[r0][:, c0] * (1 - fc) + heatmap[r0][:, c1] * fc
    bottom = heatmap[r1][:, c0] * (1 - fc) + heatmap[r1][:, c1] * fc
    return top * (1 - fr)[:, None] + bottom * fr[:, None]


def _axis_weights(size_in: int, size_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    src = np.maximum((np.arange(size_out) + 0.5) * (size_in / size_out) - 0.5, 0.0)
    low = np.minimum(np.floor(src).astype(int), size_in - 1)
    return low, np.minimum(low + 1, size_in - 1), src - low


def jet(values: np.ndarray) -> np.ndarray:
    """Piecewise-linear jet colour map: ``(...)`` in [0, 1] -> ``(..., 3)`` RGB in [0, 1]."""
    t = np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0)[..., None]
    centres = np.array([3.0, 2.0, 1.0])  # red peaks at t = 3/4, green at 1/2, blue at 1/4
    return np.clip(1.5 - np.abs(4.0 * t - centres), 0.0, 1.0)


def overlay(image: np.ndarray, heatmap: np.ndarray, alpha: float) -> np.ndarray:
    """The heatmap coloured with `jet`, blended over ``image`` (``(H, W, 3)`` 0-255): uint8 RGB."""
    pixels = np.clip(np.asarray(image, dtype=np.float64), 0.0, 255.0)
    colour = jet(upsample(heatmap, pixels.shape[0], pixels.shape[1])) * 255.0
    return np.floor(pixels * (1.0 - alpha) + colour * alpha + 0.5).astype(np.uint8)


def overlay_png(pixels: np.ndarray) -> bytes:
    """PNG bytes of an RGB uint8 array (fast compression: it is answered, never stored)."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels, "RGB").save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()
