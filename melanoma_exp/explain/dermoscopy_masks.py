"""Rough regions of a dermoscopic image at model-input size, found by simple image rules (scikit-image).

``region_masks`` cuts an image into a partition, taken in this order (a pixel belongs to the first rule
that claims it):

- ``dark_corners``: the dermatoscope's vignette, near-black pixels connected to a corner of the frame,
  with its shaded rim;
- ``lesion``: the darker blob found by Otsu's threshold on the smoothed luminance (hairs closed away
  first), the component with the best area x centrality, holes filled;
- ``ink``: saturated purple/blue pixels (marker ink, dots) outside the lesion;
- ``hair``: thin, long dark lines (black-hat of the luminance) outside the lesion and its border;
- ``other_skin``: everything else.

The lesion outranks ink because blue-grey areas inside a melanoma are pigment, not ink, and hair over
the lesion counts as lesion. The rules' pixel sizes are tuned at 224 px and scale with the input.
These are heuristics, not segmentations.
"""

from __future__ import annotations

import numpy as np

REGIONS = ("lesion", "dark_corners", "hair", "ink", "other_skin")
REFERENCE_SIDE = 224  # the rules' pixel sizes are tuned at this side and scale with the input
DARK_CORNER_LEVEL = 40.0  # luminance 0-255 of the dermatoscope's vignette
HAIR_CONTRAST = 14.0  # black-hat response (luminance 0-255) of a hair
INK_HUE = (0.55, 0.88)  # HSV hue range of purple/blue marker ink (198-317 degrees)
INK_MIN_SATURATION = 0.35
INK_MAX_VALUE = 0.9  # pale blue backgrounds are brighter than ink


def _scale(shape: tuple[int, ...]) -> float:
    return min(shape[0], shape[1]) / REFERENCE_SIDE


def luminance(image: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of ``(H, W, 3)`` RGB 0-255, float64 0-255."""
    pixels = np.asarray(image, dtype=np.float64)
    return pixels[..., 0] * 0.299 + pixels[..., 1] * 0.587 + pixels[..., 2] * 0.114


def dark_corner_mask(image: np.ndarray) -> np.ndarray:
    """The dermatoscope's vignette: near-black pixels connected to a corner patch of the frame, grown
    over its shaded rim (pixels darker than halfway to the median of the rest, within ~12 px at 224)."""
    from scipy import ndimage
    from skimage.filters import gaussian
    from skimage.measure import label

    s = _scale(image.shape)
    lum = gaussian(luminance(image), sigma=max(1.0, 1.5 * s), preserve_range=True)
    labels = label(lum < DARK_CORNER_LEVEL, connectivity=1)
    patch = max(2, int(round(0.08 * min(image.shape[:2]))))
    corners = np.concatenate([labels[:patch, :patch].ravel(), labels[:patch, -patch:].ravel(),
                              labels[-patch:, :patch].ravel(), labels[-patch:, -patch:].ravel()])
    seeds = np.isin(labels, np.setdiff1d(np.unique(corners), [0]))
    if not seeds.any() or seeds.all():
        return seeds
    rim_level = (DARK_CORNER_LEVEL + float(np.median(lum[~seeds]))) / 2
    near = ndimage.distance_transform_edt(~seeds) <= max(2.0, 12.0 * s)
    grown = label((lum < rim_level) & near | seeds, connectivity=1)
    return np.isin(grown, np.setdiff1d(np.unique(grown[seeds]), [0]))


def hair_mask(image: np.ndarray) -> np.ndarray:
    """Thin dark lines: black-hat components at most a few pixels wide and at least ~8 % of the side long."""
    from skimage.measure import label, regionprops
    from skimage.morphology import black_tophat, disk, skeletonize

    s = _scale(image.shape)
    response = black_tophat(luminance(image), disk(max(2, int(round(5 * s)))))
    candidates = label(response > HAIR_CONTRAST, connectivity=2)
    mask = np.zeros(candidates.shape, dtype=bool)
    min_length, max_width = max(6.0, 18.0 * s), max(1.5, 3.5 * s)
    for region in regionprops(candidates):
        if region.area < min_length:
            continue
        # a 2 px staircase can skeletonise to a dot: the Feret diameter bounds a straight hair's length
        length = max(float(skeletonize(region.image).sum()), float(region.feret_diameter_max))
        if length >= min_length and region.area / length <= max_width:
            mask[candidates == region.label] = True
    return mask


def ink_mask(image: np.ndarray) -> np.ndarray:
    """Saturated purple/blue pixels (marker ink and dots), specks under ~3 px at 224 px dropped."""
    from skimage.color import rgb2hsv
    from skimage.morphology import remove_small_objects

    hsv = rgb2hsv(np.clip(np.asarray(image, dtype=np.float64), 0, 255) / 255.0)
    hue, saturation, value = hsv[..., 0], hsv[..., 1], hsv[..., 2]
    ink = (hue >= INK_HUE[0]) & (hue <= INK_HUE[1]) & (saturation >= INK_MIN_SATURATION) & (value >= 0.15) & (value <= INK_MAX_VALUE)
    return remove_small_objects(ink, max_size=max(2, int(round(3 * _scale(image.shape) ** 2))))


def lesion_mask(image: np.ndarray, exclude: np.ndarray | None = None) -> np.ndarray:
    """The lesion: Otsu's threshold on the luminance with hairs closed away and smoothed, over the
    pixels not in ``exclude`` (the vignette); of the darker components, shading rings (touching the
    border or the vignette, holes over twice their area) are skipped and the one with the largest area x centrality
    kept, holes filled. Empty when nothing darker than the skin stands out."""
    return _lesion_and_rings(image, exclude)[0]


def _lesion_and_rings(image: np.ndarray, exclude: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    from scipy import ndimage
    from skimage.filters import gaussian, threshold_otsu
    from skimage.measure import label, regionprops
    from skimage.morphology import closing, disk, opening

    s = _scale(image.shape)
    height, width = image.shape[:2]
    empty = np.zeros((height, width), dtype=bool)
    valid = ~empty if exclude is None else ~np.asarray(exclude, dtype=bool)
    if valid.sum() < 16:
        return empty, empty
    lum = closing(luminance(image), disk(max(1, int(round(5 * s)))))
    lum = gaussian(lum, sigma=max(1.0, 2.0 * s), preserve_range=True)
    values = lum[valid]
    if values.max() - values.min() < 1.0:
        return empty, empty
    dark = opening((lum < threshold_otsu(values)) & valid, disk(max(1, int(round(2 * s)))))
    labels = label(dark, connectivity=1)
    centre = np.array([(height - 1) / 2, (width - 1) / 2])
    reach = float(np.hypot(*centre)) or 1.0
    rim = ~valid if exclude is None else ndimage.binary_dilation(~valid, iterations=2)
    rings = empty.copy()
    best, best_score = empty, 0.0
    for region in regionprops(labels):
        top, left, bottom, right = region.bbox
        component = labels == region.label
        filled = ndimage.binary_fill_holes(component) & valid
        on_edge = top == 0 or left == 0 or bottom == height or right == width or bool(rim[component].any())
        if on_edge and filled.sum() > 3 * region.area:
            rings |= component
            continue
        off = float(np.hypot(*(np.array(region.centroid) - centre))) / reach
        score = region.area * (1.0 - off) ** 2
        if score > best_score:
            best, best_score = filled, score
    return best, rings


def region_masks(image: np.ndarray) -> dict[str, np.ndarray]:
    """The partition of one model-input image ``(H, W, 3)`` RGB 0-255 into `REGIONS` (bool masks)."""
    from scipy import ndimage
    from skimage.measure import label

    corners = dark_corner_mask(image)
    lesion, rings = _lesion_and_rings(image, corners)
    if corners.any():  # the vignette's shaded rim belongs to the vignette
        ring_labels = label(rings, connectivity=1)
        touching = np.setdiff1d(np.unique(ring_labels[ndimage.binary_dilation(corners, iterations=2)]), [0])
        corners = corners | np.isin(ring_labels, touching)
    taken = corners | lesion
    ink = ink_mask(image) & ~taken
    taken |= ink
    # a dark lesion's ragged border answers the black-hat like a hair: hairs start ~4 px (at 224) out
    near_lesion = ndimage.binary_dilation(lesion, iterations=max(1, int(round(4 * _scale(image.shape)))))
    hair = hair_mask(image) & ~taken & ~near_lesion
    taken |= hair
    return {"lesion": lesion, "dark_corners": corners, "hair": hair, "ink": ink, "other_skin": ~taken}
