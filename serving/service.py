"""The inference service: bytes in, contract-5 answer out (decode → quality → model → advice).

Framework-free so the HTTP app, the Lambda handler and the benchmarks share exactly one code path.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from serving.decode import decode_image, to_model_input
from serving.explain import ExplainModel, unavailable
from serving.model import LiteRTModel, input_spec, load_model_json, optional_bundle_file, public_view
from serving.ood import load_ood
from serving.quality import assess_quality
from serving.recommend import recommend
from serving.settings import Settings
from serving.tta import check_tta, predict_tta

REEXPORT = "re-export the bundle with melanoma export (`melanoma export models:/NAME@champion --out DIR`)"


class LesionService:
    """Holds the bundle spec and the loaded interpreter; ``analyse`` answers one image."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.spec = load_model_json(settings.bundle_dir)
        self.input = input_spec(self.spec)
        self.model = LiteRTModel(settings.bundle_dir, self.spec, variant=settings.model_variant,
                                 threads=settings.threads)
        self.gate = self.spec["quality_gate"]
        self.ood = load_ood(settings.bundle_dir, self.spec, threads=settings.threads)  # None: no check
        check_tta(settings.tta, self.input.height, self.input.width)
        self.threshold = float(self.spec["decision_threshold"])
        # Big JPEGs are DCT-decoded at the smallest 1/2..1/8 scale still covering both the model
        # input and the quality gate's analysis size (a 4032x3024 photo decodes at 1008x756), so
        # the blur measure sees the same scale whatever the model size. The Android app's fixtures
        # (mobile/tools/make_fixtures.py) mirror this formula.
        self.decode_side = max(self.input.height, self.input.width, int(self.gate["analysis_max_side_px"]))
        self.explain_entry, self.explain_reason = _explain_entry(settings.bundle_dir, self.spec)
        self._explainer: ExplainModel | None = None
        self._explainer_lock = threading.Lock()

    @property
    def public_spec(self) -> dict[str, Any]:
        """model.json minus bundle internals (GET /v1/model)."""
        return public_view(self.spec)

    @property
    def explainer(self) -> ExplainModel | None:
        """The ``explain.tflite`` interpreter, loaded on the first explained request (a cold start
        that never explains does not pay for it), or None when the bundle has none."""
        if self.explain_entry is None:
            return None
        with self._explainer_lock:
            if self._explainer is None:
                self._explainer = ExplainModel(self.settings.bundle_dir, self.explain_entry,
                                               threads=self.settings.threads)
        return self._explainer

    def model_input(self, data: bytes) -> np.ndarray:
        """The pixels the model sees for one upload (``(H, W, 3)`` float32 0-255), as ``analyse``
        (raises ApiError on bad input); no quality gate, no model."""
        return self._pixels(self._decode(data))

    def _decode(self, data: bytes):
        return decode_image(data, min_side=self.decode_side, max_pixels=self.settings.max_pixels)

    def _pixels(self, decoded) -> np.ndarray:
        return to_model_input(decoded.image, height=self.input.height, width=self.input.width,
                              resize_method=self.input.resize_method, resize_aspect=self.input.resize_aspect)

    def analyse(self, data: bytes, explain: bool = False) -> dict[str, Any]:
        """Decode, check quality, predict and advise for one upload (raises ApiError on bad input).

        ``explain``: add ``explanation`` (serving.explain: the Grad-CAM map and its overlay on the
        model input), also when the photo has quality issues or is not a lesion: it shows what the
        model used, never a diagnosis. Without it no explanation work is done and the key is absent.
        """
        start = time.perf_counter()
        decoded = self._decode(data)
        quality = assess_quality(decoded.image, decoded.original_size, self.gate)
        pixels = self._pixels(decoded)
        p_malignant = predict_tta(self.model.predict, pixels, self.settings.tta)
        issues = list(quality.issues) + (self.ood.issues(pixels) if self.ood is not None else [])
        label, advice = recommend(p_malignant, self.threshold, self.spec["recommendation_bands"], issues)
        answer: dict[str, Any] = {
            "label": label,
            "malignant_probability": p_malignant,
            "benign_probability": 1.0 - p_malignant,
            "threshold": self.threshold,
            "recommendation": advice,
            "quality": {"ok": not issues, "issues": issues},
            "model": {"name": str(self.spec["name"]), "version": str(self.spec["version"])},
            "disclaimer": str(self.spec["disclaimer"]),
            "latency_ms": 0.0,
        }
        if explain:
            explainer = self.explainer
            answer["explanation"] = (explainer.explanation(pixels) if explainer is not None
                                     else unavailable(self.explain_reason))
        answer["latency_ms"] = (time.perf_counter() - start) * 1000.0
        return answer


def _explain_entry(bundle_dir: Path, spec: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    """model.json ``explain`` checked at start-up, or None and why not (no entry, a null entry, or its
    file missing from the deployment)."""
    if "explain" not in spec:
        return None, ("this bundle was exported before explanations existed (model.json has no "
                      f"explain entry and there is no explain.tflite): {REEXPORT}")
    entry = spec["explain"]
    if not entry:
        return None, ("this bundle's model cannot be explained (model.json explain is null: the export "
                      "found no single convolutional block to explain, e.g. an averaged ensemble or a "
                      f"head whose gradient LiteRT lacks; it said why). To get one, {REEXPORT} from a "
                      "single-backbone model")
    # Like a missing ood.tflite: the map is an extra, the classifier still serves.
    if optional_bundle_file(bundle_dir, entry, "explain.tflite", "explanations") is None:
        return None, (f"this deployment lacks {entry.get('file', 'explain.tflite')} (model.json explain names it): "
                      "copy every file of the bundle, or " + REEXPORT)
    return entry, ""
