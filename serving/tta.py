"""Optional test-time augmentation in the serving app (`MELANOMA_TTA`).

The malignant probability is averaged over the image and its flipped / rotated copies. Same
transform names and semantics as `melanoma_exp.evaluation.tta` (a test keeps them equal), so the gain
measured by `eval.tta=true` is what serving delivers, at k× the model time per request.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

_TRANSFORMS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "identity": lambda x: x,
    "hflip": lambda x: x[:, ::-1],
    "vflip": lambda x: x[::-1],
    "rot90": lambda x: np.rot90(x, 1),
    "rot180": lambda x: np.rot90(x, 2),
    "rot270": lambda x: np.rot90(x, 3),
    "transpose": lambda x: np.swapaxes(x, 0, 1),
    "antitranspose": lambda x: np.rot90(np.swapaxes(x, 0, 1), 2),
}
TRANSFORMS = tuple(_TRANSFORMS)


def parse_tta(value: str | None) -> tuple[str, ...]:
    """``"hflip,vflip"`` -> ``("identity", "hflip", "vflip")``; empty/unset -> no TTA."""
    names = tuple(n.strip() for n in (value or "").split(",") if n.strip())
    unknown = [n for n in names if n not in _TRANSFORMS]
    if unknown:
        raise ValueError(f"MELANOMA_TTA: unknown transform(s) {unknown}. Known: {', '.join(TRANSFORMS)}")
    if not names:
        return ()
    return ("identity", *[n for n in names if n != "identity"])


def transform(image: np.ndarray, name: str) -> np.ndarray:
    """One transform of a single image (H, W, C)."""
    return np.ascontiguousarray(_TRANSFORMS[name](image))


def predict_tta(predict: Callable[[np.ndarray], float], image: np.ndarray, transforms: Sequence[str]) -> float:
    """Mean of ``predict`` over the transformed copies (just ``predict(image)`` without TTA)."""
    if not transforms:
        return predict(image)
    return float(np.mean([predict(transform(image, t)) for t in transforms]))


def check_tta(transforms: Sequence[str], height: int, width: int) -> None:
    """Rotations and transposes swap height and width: only square model inputs allow them."""
    swapping = [t for t in transforms if t in ("rot90", "rot270", "transpose", "antitranspose")]
    if swapping and height != width:
        raise ValueError(f"MELANOMA_TTA {swapping} need a square model input, the bundle's is {height}x{width}")
