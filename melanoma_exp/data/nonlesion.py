"""Synthetic non-lesion images for fitting and testing the "not a skin lesion" check.

Real users point the camera at fingers, walls, pets and screens. Real photographs come from
`real_photos` (shipped inside installed packages); these families add what those lack: pure noise,
flat colours, natural-looking scenes (sky/ground gradients, stripes, bricks, soft blobs), and the
near misses a lesion check must not let through: plain skin without a lesion, skin with a rash
(many small red spots, no single lesion), text on a page or screen, and face-like blobs.
Float32 RGB 0–255, seeded.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

KINDS = ("noise", "flat", "scene", "skin", "rash", "text", "face")


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


def _skin(size: int, rng: np.random.Generator) -> np.ndarray:
    """A skin-toned field with low-frequency shading, like the lesion generator's background."""
    from melanoma_exp.data.synth import SKIN_TONES

    tone = np.array(list(SKIN_TONES.values())[rng.integers(len(SKIN_TONES))], np.float64) * rng.uniform(0.9, 1.1, 3)
    shade = ndimage.zoom(rng.normal(0, 1, (4, 4)), size / 4, order=3)[:size, :size]
    yy, xx = np.mgrid[0:size, 0:size] / size
    light = 1 + rng.uniform(-0.15, 0.15) * (xx - 0.5) + rng.uniform(-0.15, 0.15) * (yy - 0.5)
    return tone * (light * (1 + 0.04 * shade))[..., None]


def skin_image(size: int, rng: np.random.Generator) -> np.ndarray:
    """Plain skin, no lesion: pores/freckle-scale speckle, sometimes a few hairs."""
    img = _skin(size, rng)
    img = img * (1 + ndimage.gaussian_filter(rng.normal(0, 0.05, (size, size)), 0.8))[..., None]
    for _ in range(rng.integers(0, 6)):  # hairs: thin dark curves
        y0, x0, angle = rng.uniform(0, size, 2).tolist() + [rng.uniform(0, np.pi)]
        t = np.linspace(-size / 2, size / 2, 2 * size)
        ys = np.clip(y0 + t * np.sin(angle) + 3 * np.sin(t / 9), 0, size - 1).astype(int)
        xs = np.clip(x0 + t * np.cos(angle), 0, size - 1).astype(int)
        img[ys, xs] *= 0.45
    img = img + rng.normal(0, 3, img.shape)
    return np.clip(img, 0, 255).astype(np.float32)


def rash_image(size: int, rng: np.random.Generator) -> np.ndarray:
    """Skin with a rash: many small reddish spots or a blotchy red patch, no single lesion."""
    img = _skin(size, rng)
    red = np.array([190, 70, 70]) * rng.uniform(0.8, 1.1)
    spots = np.zeros((size, size))
    n = rng.integers(25, 120)
    spots[rng.integers(0, size, n), rng.integers(0, size, n)] = 1.0
    spots = ndimage.gaussian_filter(spots, rng.uniform(0.8, 2.5) * size / 64)
    if rng.random() < 0.5:  # a diffuse blotch too (eczema-like)
        spots = spots / spots.max() + 0.6 * np.clip(ndimage.zoom(rng.normal(0, 1, (5, 5)), size / 5, order=3)[:size, :size], 0, None)
    alpha = np.clip(spots / (spots.max() + 1e-9), 0, 1)[..., None] * rng.uniform(0.4, 0.8)
    img = img * (1 - alpha) + red * alpha + rng.normal(0, 3, img.shape)
    return np.clip(img, 0, 255).astype(np.float32)


def text_image(size: int, rng: np.random.Generator) -> np.ndarray:
    """Lines of text on a page or a screen (dark on light or light on dark)."""
    from PIL import Image, ImageDraw

    dark_on_light = rng.random() < 0.6
    paper = rng.uniform(200, 255, 3) if dark_on_light else rng.uniform(0, 60, 3)
    ink = rng.uniform(0, 60, 3) if dark_on_light else rng.uniform(170, 255, 3)
    canvas = Image.new("RGB", (2 * size, 2 * size), tuple(int(c) for c in paper))
    draw = ImageDraw.Draw(canvas)
    letters = "abcdefghijklmnopqrstuvwxyz     ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.,"
    step = int(rng.integers(10, 22))
    for y in range(int(rng.integers(2, 10)), 2 * size, step):
        line = "".join(rng.choice(list(letters), 80))
        draw.text((int(rng.integers(0, 12)), y), line, fill=tuple(int(c) for c in ink))
    img = np.asarray(canvas.resize((size, size), Image.BILINEAR), np.float64)
    return np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.float32)


def face_image(size: int, rng: np.random.Generator) -> np.ndarray:
    """A face-like blob on a background: a skin-toned oval with two dark eyes and a mouth."""
    img = scene_image(size, rng).astype(np.float64)
    face = _skin(size, rng)
    yy, xx = np.mgrid[0:size, 0:size] / size
    cy, cx, ry = rng.uniform(0.4, 0.6), rng.uniform(0.4, 0.6), rng.uniform(0.3, 0.45)
    rx = ry * rng.uniform(0.7, 0.85)
    oval = (((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2) < 1
    img[oval] = face[oval]
    dark = rng.uniform(20, 70, 3)
    for ex in (cx - 0.4 * rx, cx + 0.4 * rx):  # eyes
        eye = (((yy - (cy - 0.25 * ry)) / (0.08 * ry)) ** 2 + ((xx - ex) / (0.15 * rx)) ** 2) < 1
        img[eye] = dark
    mouth = (((yy - (cy + 0.45 * ry)) / (0.06 * ry)) ** 2 + ((xx - cx) / (0.35 * rx)) ** 2) < 1
    img[mouth] = np.array([150, 60, 60]) * rng.uniform(0.7, 1.1)
    img = ndimage.gaussian_filter(img, sigma=(rng.uniform(0.3, 1.2),) * 2 + (0,))
    return np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.float32)


_MAKERS = {"noise": noise_image, "flat": flat_image, "scene": scene_image, "skin": skin_image,
           "rash": rash_image, "text": text_image, "face": face_image}


def non_lesion_images(n: int, size: int, seed: int = 0, kinds=KINDS) -> tuple[np.ndarray, list[str]]:
    """``n`` non-lesion images cycling over ``kinds``; returns (images (n, size, size, 3), kinds)."""
    unknown = [k for k in kinds if k not in _MAKERS]
    if unknown:
        raise ValueError(f"Unknown non-lesion kind(s) {unknown}. Known: {', '.join(KINDS)}")
    rng = np.random.default_rng(seed)
    names = [kinds[i % len(kinds)] for i in range(n)]
    return np.stack([_MAKERS[k](size, rng) for k in names]), names


def object_images(backgrounds: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """``n`` round things in the middle of a photo: an ellipse (15-45 % of the side, soft or hard edge)
    filled with one photo crop, on another photo crop or a flat colour. A cup, a coin, a button, a
    flower: centred and lesion-shaped, but not lesions, so the shape alone must not make a lesion.

    Args:
        backgrounds: square photo crops ``(N, S, S, 3)`` 0-255 (the fit sources' real photos).
        n: how many images.
        seed: the random seed.

    Returns:
        float32 ``(n, S, S, 3)`` 0-255.
    """
    rng = np.random.default_rng(seed)
    pool = np.asarray(backgrounds, np.float32)
    if not len(pool) or n < 1:
        return np.zeros((0, *pool.shape[1:]), np.float32)
    size = pool.shape[1]
    yy, xx = (np.mgrid[0:size, 0:size] + 0.5) / size
    out = np.empty((n, size, size, 3), np.float32)
    for i in range(n):
        back = pool[rng.integers(len(pool))]
        if rng.random() < 0.3:
            back = np.broadcast_to(rng.uniform(0, 255, 3).astype(np.float32), back.shape)
        cy, cx = 0.5 + rng.uniform(-0.1, 0.1, 2)
        ry = rng.uniform(0.15, 0.45)
        rx = ry * rng.uniform(0.6, 1.4)
        inside = np.clip((1 - np.hypot((yy - cy) / ry, (xx - cx) / rx)) / rng.uniform(0.02, 0.3), 0, 1)[..., None]
        out[i] = back * (1 - inside) + pool[rng.integers(len(pool))] * inside
    return out
