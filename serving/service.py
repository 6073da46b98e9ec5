"""The inference service: bytes in, contract-5 answer out (decode → quality → model → advice).

Framework-free so the HTTP app, the Lambda handler and the benchmarks share exactly one code path.
"""

from __future__ import annotations

import time
from typing import Any

from serving.decode import decode_image, to_model_input
from serving.model import LiteRTModel, input_spec, load_model_json, public_view
from serving.ood import load_ood
from serving.quality import assess_quality
from serving.recommend import recommend
from serving.settings import Settings
from serving.tta import check_tta, predict_tta


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

    @property
    def public_spec(self) -> dict[str, Any]:
        """model.json minus bundle internals (GET /v1/model)."""
        return public_view(self.spec)

    def analyse(self, data: bytes) -> dict[str, Any]:
        """Decode, check quality, predict and advise for one upload (raises ApiError on bad input)."""
        start = time.perf_counter()
        decoded = decode_image(data, min_side=self.decode_side, max_pixels=self.settings.max_pixels)
        quality = assess_quality(decoded.image, decoded.original_size, self.gate)
        pixels = to_model_input(decoded.image, height=self.input.height, width=self.input.width,
                                resize_method=self.input.resize_method,
                                resize_aspect=self.input.resize_aspect)
        p_malignant = predict_tta(self.model.predict, pixels, self.settings.tta)
        issues = list(quality.issues) + (self.ood.issues(pixels) if self.ood is not None else [])
        label, advice = recommend(p_malignant, self.threshold, self.spec["recommendation_bands"], issues)
        return {
            "label": label,
            "malignant_probability": p_malignant,
            "benign_probability": 1.0 - p_malignant,
            "threshold": self.threshold,
            "recommendation": advice,
            "quality": {"ok": not issues, "issues": issues},
            "model": {"name": str(self.spec["name"]), "version": str(self.spec["version"])},
            "disclaimer": str(self.spec["disclaimer"]),
            "latency_ms": (time.perf_counter() - start) * 1000.0,
        }
