"""Synthetic non-lesion images for fitting and testing the "not a skin lesion" check.

Real users point the camera at fingers, walls, pets and screens. Without a download we cannot ship
real photos, so these are the three families the out-of-distribution threshold is fitted on and tested
against: pure noise, flat colours, and natural-looking scenes (sky/ground gradients, stripes, bricks,
random soft blobs). Float32 RGB 0–255, seeded.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

KINDS = ("noise", "flat", "scene")


def noise_image(size: int, rng: np.random.Generator) -> np.ndarray:
    """Uniform or smoothed colour noise."""
    img = rng.uniform(0, 255, (size, size, 3))
    if rng.random() < 0.5:
        img = ndimage.gaussian_filter(img, sigma=(rng.uniform(0.5, 2.0),) * 2 + (0,))
    return img.astype(np.float32)


def flat_image(size: int, rng: np.random.Generator) -> np.ndarray:
    """A single colour with a little sensor noise (walls, paper, screens)."""
    colour = rng.uniform(0, 255, 3)
    return np.clip(colour + rng.normal(0, 3, (size, size, 3)), 0, 255).astype(np.float32)


def scene_image(size: int, rng: np.random.Generator) -> np.ndarray:
    """Natural-looking scene: a horizon gradient with stripes or bricks or soft shapes on it."""
    y = np.linspace(0, 1, size)[:, None, None]
    sky, ground = rng.uniform(0, 255, 3), rng.uniform(0, 255, 3)
    horizon = rng.uniform(0.3, 0.7)
    img = np.where(y < horizon, sky * (1 - 0.5 * y), ground * (0.6 + 0.4 * y)) * np.ones((1, size, 1))
    kind = rng.integers(3)
    yy, xx = np.mgrid[0:size, 0:size] / size
    if kind == 0:  # stripes (fences, blinds, fabric)
        freq, angle = rng.uniform(3, 12), rng.uniform(0, np.pi)
        stripes = np.sin(2 * np.pi * freq * (xx * np.cos(angle) + yy * np.sin(angle)))
        img = img * (0.75 + 0.25 * stripes[..., None])
    elif kind == 1:  # bricks / tiles
        rows = rng.integers(3, 8)
        mortar = ((yy * rows) % 1 < 0.1) | (((xx * rows / 2 + 0.5 * (np.floor(yy * rows) % 2)) % 1) < 0.05)
        img = np.where(mortar[..., None], rng.uniform(150, 230, 3), img)
    else:  # a few soft coloured shapes (objects, leaves)
        for _ in range(rng.integers(2, 6)):
            cy, cx, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.05, 0.3)
            blob = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * r**2))[..., None]
            img = img * (1 - blob) + rng.uniform(0, 255, 3) * blob
    img = img + rng.normal(0, 4, img.shape)
    return np.clip(img, 0, 255).astype(np.float32)


_MAKERS = {"noise": noise_image, "flat": flat_image, "scene": scene_image}


def non_lesion_images(n: int, size: int, seed: int = 0, kinds=KINDS) -> tuple[np.ndarray, list[str]]:
    """``n`` non-lesion images cycling over ``kinds``; returns (images (n, size, size, 3), kinds)."""
    unknown = [k for k in kinds if k not in _MAKERS]
    if unknown:
        raise ValueError(f"Unknown non-lesion kind(s) {unknown}. Known: {', '.join(KINDS)}")
    rng = np.random.default_rng(seed)
    names = [kinds[i % len(kinds)] for i in range(n)]
    return np.stack([_MAKERS[k](size, rng) for k in names]), names
