"""Real lesions for the not-a-lesion gate: what it learns "lesion" from, and what measures it.

A gate fitted on synthetic lesions learns "synthetic lesion vs anything real" and turns real
dermoscopy away (issue 23). Its positives are therefore real: the run's own training images when the
run's data is real, otherwise a fixed part of the dermoscopy sample that ships with the project
(`samples/isic_uda1`, ``eval.ood.real_lesions``), split per class by a seeded permutation of the
sorted ids so the rest of the sample measures rejection on lesions the fit never saw.

So that the gate learns what a lesion is rather than how one collection looks, every training view
is jittered the way other clinics and cameras differ (`training_views`): a crop of 40-100 % of the
side around the centre, a downscale to as little as a fifth of the side and back, blur, JPEG,
white balance, exposure, gamma and saturation, a quarter turn and a mirror. Non-lesion views get the
same jitter (a jitter must not be a cue). The held-out probes (`small_probe`, `colour_probe`) are
what a lesion from elsewhere looks like: a 224 px image, a strong white-balance and exposure shift.
"""

from __future__ import annotations

import csv
import functools
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from melanoma_exp.data.imageops import load_resized
from melanoma_exp.data.layout import find_image


@dataclass(frozen=True)
class SampleSplit:
    """The dermoscopy sample split into the gate's fit part and the part that measures it."""

    folder: Path
    fit: tuple[Path, ...]
    held_out: tuple[Path, ...]


def sample_split(folder, fit_fraction: float, seed: int) -> SampleSplit:
    """Split an isic-cli folder's images (``metadata.csv``) per ``diagnosis_1``: a seeded
    permutation of each class's sorted ids, its first ``fit_fraction`` for the fit, the rest held out.

    Raises:
        FileNotFoundError: the folder has no metadata.csv or none of its images.
    """
    folder = Path(folder)
    meta = folder / "metadata.csv"
    if not meta.is_file():
        raise FileNotFoundError(f"eval.ood.real_lesions.dir={folder}: no metadata.csv (expected isic-cli's layout)")
    by_class: dict[str, list[Path]] = {}
    with meta.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            path = find_image(folder, row["isic_id"])
            if path is not None:
                by_class.setdefault(row.get("diagnosis_1") or "", []).append(path)
    if not by_class:
        raise FileNotFoundError(f"eval.ood.real_lesions.dir={folder}: none of metadata.csv's images is there")
    rng = np.random.default_rng(seed)
    fit, held = [], []
    for name in sorted(by_class):
        paths = sorted(by_class[name])
        order = rng.permutation(len(paths))
        cut = int(round(fit_fraction * len(paths)))
        fit += [paths[i] for i in order[:cut]]
        held += [paths[i] for i in order[cut:]]
    return SampleSplit(folder, tuple(sorted(fit)), tuple(sorted(held)))


@functools.lru_cache(maxsize=8)
def _load(paths: tuple[Path, ...], size: int) -> np.ndarray:
    return np.stack([load_resized(p, size) for p in paths]) if paths else np.zeros((0, size, size, 3), np.uint8)


def load_images(paths, size: int) -> np.ndarray:
    """The images as served (centre square, resized to ``size``), uint8 ``(N, size, size, 3)``; cached
    per process (a test session fits many gates on the same sample)."""
    return _load(tuple(Path(p) for p in paths), int(size))


def small_probe(paths, size: int, long_side: int = 224, quality: int = 85) -> np.ndarray:
    """Each image as a smaller collection or an older camera delivers it: long side ``long_side`` px,
    JPEG at ``quality``, then served like any upload. uint8 ``(N, size, size, 3)``."""
    out = []
    for path in paths:
        with Image.open(path) as img:
            img = img.convert("RGB")
            img.thumbnail((long_side, long_side), Image.LANCZOS)
            buf = io.BytesIO()
            img.save(buf, "JPEG", quality=quality)
        out.append(load_resized(io.BytesIO(buf.getvalue()), size))
    return np.stack(out) if out else np.zeros((0, size, size, 3), np.uint8)


def colour_probe(images, seed: int) -> np.ndarray:
    """Strong colour casts of another camera or light: a white-balance shift of 12-22 % (warm or cool),
    a green/magenta tint up to 6 %, exposure x0.65-1.35 and gamma 0.75-1.3. float32 0-255."""
    rng = np.random.default_rng(seed)
    x = np.asarray(images, np.float32)
    n = len(x)
    warm = rng.choice([-1.0, 1.0], n) * rng.uniform(0.12, 0.22, n)
    gains = np.stack([1 + warm, 1 + rng.uniform(-0.06, 0.06, n), 1 - warm], 1) * rng.uniform(0.65, 1.35, (n, 1))
    y = np.clip(x * gains[:, None, None, :].astype(np.float32), 0, 255) / np.float32(255)
    return (np.float32(255) * y ** rng.uniform(0.75, 1.3, (n, 1, 1, 1)).astype(np.float32)).astype(np.float32)


def _jitter_geometry(img: Image.Image, rng: np.random.Generator, crop: bool) -> Image.Image:
    side = img.size[0]
    if crop and rng.random() < 0.7:  # a closer framing: 40-100 % of the side, the centre kept inside
        cut = max(4, int(rng.uniform(0.4, 1.0) * side))
        low, high = max(0, side // 2 - cut + 1), min(side - cut, side // 2)
        left, top = int(rng.integers(low, high + 1)), int(rng.integers(low, high + 1))
        img = img.resize((side, side), Image.BILINEAR, box=(left, top, left + cut, top + cut))
    if rng.random() < 0.35:  # a small original (224 px and below), upscaled by the server
        small = max(8, int(rng.uniform(0.2, 0.8) * side))
        img = img.resize((small, small), Image.BILINEAR).resize((side, side), Image.BILINEAR)
    if rng.random() < 0.25:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.5) * side / 64))
    if rng.random() < 0.4:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=int(rng.integers(25, 90)))
        img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return img


def jitter(images, rng: np.random.Generator, *, crop: bool) -> np.ndarray:
    """One jittered view of each image (see the module docstring); ``crop`` only for lesions (a crop
    of a photo is just another photo). float32 0-255 ``(N, S, S, 3)``, square inputs."""
    x = np.asarray(images)
    views = np.stack([np.asarray(_jitter_geometry(Image.fromarray(np.clip(im, 0, 255).astype(np.uint8)), rng, crop),
                                 np.float32) for im in x]) if len(x) else np.zeros(x.shape, np.float32)
    n = len(views)
    warm, tint = rng.uniform(-0.12, 0.12, n), rng.uniform(-0.06, 0.06, n)
    gains = (np.stack([1 + warm, 1 + tint, 1 - warm], 1) * rng.uniform(0.7, 1.3, (n, 1))).astype(np.float32)
    y = np.clip(views * gains[:, None, None, :], 0, 255) / np.float32(255)
    y = np.float32(255) * y ** rng.uniform(0.8, 1.25, (n, 1, 1, 1)).astype(np.float32)
    grey = y.mean(axis=3, keepdims=True)
    y = grey + (y - grey) * rng.uniform(0.7, 1.15, (n, 1, 1, 1)).astype(np.float32)
    for i in range(n):  # lesions have no "up"
        y[i] = np.rot90(y[i], int(rng.integers(4)))
        if rng.random() < 0.5:
            y[i] = y[i][:, ::-1]
    return np.clip(y, 0, 255).astype(np.float32)


def vignette(images, rng: np.random.Generator, share: float) -> np.ndarray:
    """``share`` of the images (square) dark outside a centred circle, as a dermoscope's field: on
    non-lesions, so that a black round field alone does not make a photo look like a lesion (real
    dermoscopy has one often enough to teach the other side)."""
    out = np.array(images, np.float32, copy=True)
    side = out.shape[1]
    yy, xx = (np.mgrid[0:side, 0:side] - (side - 1) / 2) / (side / 2)
    rho = np.hypot(yy, xx)
    for i in np.flatnonzero(rng.random(len(out)) < share):
        out[i] *= np.clip((rng.uniform(0.55, 1.3) - rho) / rng.uniform(0.03, 0.15), 0, 1)[..., None]
    return out


def training_views(images, views: int, rng: np.random.Generator, *, lesion: bool) -> np.ndarray:
    """``views`` jittered views of each image, concatenated (non-lesions: a third vignetted)."""
    if views < 1 or not len(images):
        return np.zeros((0, *np.asarray(images).shape[1:]), np.float32)
    out = np.concatenate([jitter(images, rng, crop=lesion) for _ in range(views)])
    return out if lesion else vignette(out, rng, share=1 / 3)


def raw_paths(raw_dir, isic_ids) -> list[Path]:
    """The raw files of these ids (isic-cli layout); ids without a file are left out."""
    found = (find_image(Path(raw_dir), str(i)) for i in isic_ids)
    return [p for p in found if p is not None]
