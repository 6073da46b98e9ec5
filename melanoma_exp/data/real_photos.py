"""Real photographs that ship inside installed Python packages (no download): the project's source of
real non-lesion images for the not-a-lesion check and the photo-quality gate.

Sources: scikit-learn (china, flower), scikit-image (a cat, a rocket, coffee, coins, a scanned page,
...), matplotlib (a portrait), PyWavelets (an aircraft, people on stairs), mahotas (a department
store, a face). Grouped by the package that ships them, so a fit can hold a whole source out and report how it does
on photographs it never saw. None of them shows skin lesions; a few show skin (a face, a hand-held
portrait) — exactly what a phone pointed at the wrong thing produces.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

# skimage.data photographs stored inside its wheel (others download on first use and fail offline).
SKIMAGE_PHOTOS = ("astronaut", "coffee", "chelsea", "rocket", "camera", "brick", "grass", "gravel",
                  "moon", "retina", "immunohistochemistry", "hubble_deep_field", "coins", "text", "page")
# Scenes that are dark by nature (a deep-sky exposure): real, but not "well lit" by any standard.
DARK_BY_NATURE = frozenset({"hubble_deep_field"})
# Real but smaller than the quality gate's resolution floor (a photographed sign, a scanned page):
# "low_resolution" is the right answer for them, so the quality checks leave them out.
BELOW_MIN_SIDE = frozenset({"text", "page"})


@dataclass(frozen=True)
class RealPhoto:
    """One photograph: the package that ships it, its name, and its pixels (uint8 RGB HxWx3)."""

    source: str
    name: str
    rgb: np.ndarray


def _rgb(array: np.ndarray) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    return np.ascontiguousarray(array[..., :3]).astype(np.uint8)


def _sklearn() -> list[RealPhoto]:
    from sklearn.datasets import load_sample_images

    bunch = load_sample_images()
    return [RealPhoto("scikit-learn", Path(f).stem, _rgb(img)) for f, img in zip(bunch.filenames, bunch.images,
                                                                                  strict=True)]


def _skimage() -> list[RealPhoto]:
    import skimage.data

    photos = [RealPhoto("scikit-image", name, _rgb(getattr(skimage.data, name)())) for name in SKIMAGE_PHOTOS]
    left, right, _ = skimage.data.stereo_motorcycle()
    return [*photos, RealPhoto("scikit-image", "motorcycle_left", _rgb(left)),
            RealPhoto("scikit-image", "motorcycle_right", _rgb(right))]


def _matplotlib() -> list[RealPhoto]:
    from matplotlib import cbook
    from PIL import Image

    with Image.open(cbook.get_sample_data("grace_hopper.jpg")) as image:
        return [RealPhoto("matplotlib", "grace_hopper", _rgb(np.asarray(image.convert("RGB"))))]


def _pywavelets() -> list[RealPhoto]:
    import pywt.data

    return [RealPhoto("pywavelets", name, _rgb(getattr(pywt.data, name)())) for name in ("aero", "ascent")]


def _mahotas() -> list[RealPhoto]:
    from mahotas import demos

    return [RealPhoto("mahotas", name, _rgb(demos.load(name))) for name in ("DepartmentStore", "luispedro")]


SOURCES = {"scikit-learn": _sklearn, "scikit-image": _skimage, "matplotlib": _matplotlib,
           "pywavelets": _pywavelets, "mahotas": _mahotas}


def real_photos(sources: tuple[str, ...] | None = None) -> list[RealPhoto]:
    """Every photograph of the named sources (all of them by default), in a fixed order."""
    unknown = set(sources or ()) - set(SOURCES)
    if unknown:
        raise ValueError(f"unknown real-photo source(s) {sorted(unknown)}; known: {sorted(SOURCES)}")
    return [photo for name in (sources or tuple(SOURCES)) for photo in SOURCES[name]()]
