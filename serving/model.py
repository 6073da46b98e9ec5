"""Load a model bundle (contract 4) and run the LiteRT interpreter on preprocessed images."""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from serving.quality import BLUR_KEYS, COLOUR_KEYS, EXPOSURE_KEYS
from serving.recommend import check_bands

REQUIRED_KEYS = ("name", "version", "labels", "input", "decision_threshold", "recommendation_bands",
                 "quality_gate", "disclaimer", "files")
# Fields of model.json that only matter inside the bundle; GET /v1/model leaves them out.
INTERNAL_KEYS = ("files", "schema_version")


class BundleError(RuntimeError):
    """The bundle folder is missing, incomplete or inconsistent (a deployment problem)."""


@dataclass(frozen=True)
class InputSpec:
    """What the model expects: RGB float32 in ``value_range`` at ``height`` x ``width``."""

    height: int
    width: int
    resize_method: str
    resize_aspect: str
    value_range: tuple[float, float]


def load_model_json(bundle_dir: Path) -> dict[str, Any]:
    """Read and check ``model.json``; errors name the folder and the missing key."""
    path = Path(bundle_dir) / "model.json"
    if not path.is_file():
        raise BundleError(
            f"no model bundle at {bundle_dir} (missing model.json). Export one with "
            "`melanoma export models:/NAME@champion --out DIR` or build a test bundle with "
            "`python -m melanoma_exp.export.tiny_bundle --out DIR`."
        )
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise BundleError(f"{path} is not valid JSON: {exc}") from exc
    missing = [key for key in REQUIRED_KEYS if key not in spec]
    if missing:
        raise BundleError(f"{path} lacks required keys: {', '.join(missing)}")
    inp = spec["input"]
    if inp.get("channels") != 3 or inp.get("color") != "RGB":
        raise BundleError(f"{path}: serving supports RGB 3-channel input only, got {inp}")
    try:
        check_bands(spec["recommendation_bands"])
        check_upload_side(spec)
        check_exposure_keys(spec)
    except (ValueError, KeyError, TypeError) as exc:
        raise BundleError(f"{path}: {exc}") from exc
    return spec


def check_upload_side(spec: dict[str, Any]) -> int | None:
    """model.json ``quality_gate.upload_max_side_px``: the long side clients downscale uploads to.

    Optional (bundles exported before clients downscaled lack it; the app and the browser page then
    use the export default, 1024). When present it must be an integer no smaller than what the gate
    and the model need (``analysis_max_side_px``, ``min_side_px``, the model's input height and width),
    so a downscaled upload is never judged or classified on fewer pixels than a full-size one.
    """
    gate = spec["quality_gate"]
    side = gate.get("upload_max_side_px")
    if side is None:
        return None
    need = max(int(gate.get("analysis_max_side_px", 0)), int(gate.get("min_side_px", 0)),
               int(spec["input"].get("height", 0)), int(spec["input"].get("width", 0)))
    if isinstance(side, bool) or not isinstance(side, int) or side < need:
        raise ValueError(f"model.json quality_gate.upload_max_side_px must be an integer >= {need} "
                         f"(analysis_max_side_px, min_side_px and the model input), got {side!r}")
    return side


# Exposure limits of one rule: a bundle gives both or neither (the app's ModelJson checks the same).
PAIRED_EXPOSURE_KEYS = (("dark_max_midtone", "dark_max_highlight"), ("dark_max_midtone_neutral", "neutral_min_ratio"))


def check_exposure_keys(spec: dict[str, Any]) -> None:
    """model.json ``quality_gate`` exposure keys relative to the scene and the edge-sharpness blur
    key (``serving.quality``).

    Optional: bundles exported before them keep the mean-luma and clipping rule (and the
    Laplacian-variance blur rule alone). When present each is a number, and ``dark_max_midtone``
    comes with ``dark_max_highlight`` (one rule, two limits); ``dark_max_midtone_neutral`` comes with
    ``neutral_min_ratio`` and needs ``dark_max_highlight``.
    """
    gate = spec["quality_gate"]
    for key in (*EXPOSURE_KEYS, *COLOUR_KEYS, *BLUR_KEYS):
        value = gate.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ValueError(f"model.json quality_gate.{key} must be a number, got {value!r}")
    for first, second in PAIRED_EXPOSURE_KEYS:
        if (gate.get(first) is None) != (gate.get(second) is None):
            raise ValueError(f"model.json quality_gate.{first} and {second} go together: give both or neither")
    if gate.get("dark_max_midtone_neutral") is not None and gate.get("dark_max_highlight") is None:
        raise ValueError("model.json quality_gate.dark_max_midtone_neutral needs dark_max_highlight "
                         "(it judges dim scenes only)")


def input_spec(spec: dict[str, Any]) -> InputSpec:
    """The input section of model.json as a typed object."""
    inp = spec["input"]
    low, high = inp.get("value_range", [0.0, 255.0])
    aspect = str(inp.get("resize_aspect", "center_crop"))
    if aspect not in ("center_crop", "stretch"):
        raise BundleError(f"model.json input.resize_aspect must be center_crop or stretch, got {aspect!r}")
    return InputSpec(int(inp["height"]), int(inp["width"]), str(inp.get("resize_method", "bilinear")),
                     aspect, (float(low), float(high)))


def public_view(spec: dict[str, Any]) -> dict[str, Any]:
    """model.json minus the bundle-internal fields (for GET /v1/model)."""
    return {key: value for key, value in spec.items() if key not in INTERNAL_KEYS}


class Interpreter:
    """One LiteRT interpreter for a bundle file, loaded once and shared: one preprocessed image in, all
    its outputs out; a lock serialises calls (an interpreter is not thread-safe). The classifier, the
    not-a-lesion scorer and the explanation model all run through it."""

    def __init__(self, path: Path, *, threads: int = 2, what: str = "model.json files"):
        from ai_edge_litert.interpreter import Interpreter as LiteRT

        if not path.is_file():
            raise BundleError(f"bundle file {path} is missing ({what})")
        self.path = path
        self.interpreter = LiteRT(model_path=str(path), num_threads=threads)
        self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.outputs = self.interpreter.get_output_details()
        self._lock = threading.Lock()

    def run(self, image: np.ndarray) -> list[np.ndarray]:
        """Every output (in `outputs` order, copied) for one image ``(H, W, 3)`` float32."""
        batch = np.ascontiguousarray(image[np.newaxis], dtype=np.float32)
        with self._lock:
            self.interpreter.set_tensor(self.input["index"], batch)
            self.interpreter.invoke()
            return [self.interpreter.get_tensor(out["index"]).copy() for out in self.outputs]


def optional_bundle_file(bundle_dir: Path, entry: dict[str, Any], default: str, without: str) -> Path | None:
    """The file an optional model.json entry (``ood``, ``explain``) names, or None, said once in the log,
    when the deployment left it out: the classifier still serves, ``without`` the extra."""
    path = Path(bundle_dir) / str(entry.get("file", default))
    if path.is_file():
        return path
    logging.getLogger(__name__).warning("model.json names %s but the bundle %s lacks it: serving without %s",
                                        path.name, bundle_dir, without)
    return None


class LiteRTModel:
    """The classifier (``model.tflite`` or ``model_int8.tflite``) on one shared `Interpreter`."""

    def __init__(self, bundle_dir: Path, spec: dict[str, Any], *, variant: str = "float", threads: int = 2):
        file_key = "tflite" if variant == "float" else "tflite_int8"
        self.runner = Interpreter(Path(bundle_dir) / spec["files"][file_key], threads=threads,
                                  what=f"model.json files.{file_key}")
        self.path = self.runner.path
        expected = input_spec(spec)
        shape = tuple(int(d) for d in self.runner.input["shape"])
        if shape[1:] != (expected.height, expected.width, 3):
            raise BundleError(f"{self.path} takes input shape {shape}, model.json says "
                              f"{expected.height}x{expected.width}x3")

    def predict(self, image: np.ndarray) -> float:
        """Return the malignant probability for one image ``(H, W, 3)`` float32 0-255."""
        (out, *_) = self.runner.run(image)
        return float(np.clip(out.reshape(-1)[0], 0.0, 1.0))
