"""Synthetic dermoscopy images in the isic-cli layout (contract 1), for tests, the demo and benchmarks.

Lesions follow the ABCD rule: malignant ones tend to be Asymmetric, with irregular Borders, several
Colours and a larger Diameter; benign ones are symmetric, smooth, uniform and smaller. Every lesion
draws a latent severity from a class-dependent Beta distribution and all features derive from it, so
the classes overlap: the task is learnable, not trivial.

Nuisances a real archive has: hair, ruler marks, coloured marker stickers, dermoscope vignetting,
uneven lighting and skin tones across Fitzpatrick I-VI. `shortcut` puts marker stickers mostly on
malignant images so a model can learn to cheat; `masks=True` writes each image's sticker mask to
`masks/<isic_id>.png` (255 = sticker) so a saliency check can catch it.

`size` is the square side (`64`) or `(width, height)` (`(1024, 768)`, ISIC-like). Images are drawn
at most 256 px on the long side and upscaled with fine sensor noise added at full size, which keeps
large images fast to make while still giving real, full-size JPEGs to decode.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from melanoma_exp.data.layout import image_path, write_layout_metadata

RENDER_MAX = 256
BASE_STICKER_RATE = 0.04
INDETERMINATE_RATE = 0.03
LICENSE = "CC-0"
ATTRIBUTION = "Synthetic data (melanoma-exp generator)"

# Mean skin RGB per Fitzpatrick type.
SKIN_TONES = {
    "I": (246, 218, 200),
    "II": (236, 192, 164),
    "III": (218, 168, 130),
    "IV": (190, 132, 95),
    "V": (138, 88, 58),
    "VI": (92, 60, 42),
}
SKIN_PROBS = [0.12, 0.28, 0.25, 0.17, 0.11, 0.07]
# Colours a melanoma shows (dermoscopy): light/dark brown, black, blue-grey, red, white.
LESION_COLOURS = np.array(
    [(150, 100, 65), (95, 58, 38), (35, 28, 28), (85, 95, 120), (165, 65, 65), (215, 205, 200)],
    dtype=np.float32,
)
STICKER_COLOURS = [(40, 180, 90), (40, 90, 205), (235, 205, 40), (225, 60, 150)]
SITES = [
    "anterior torso", "posterior torso", "lateral torso", "upper extremity",
    "lower extremity", "head/neck", "palms/soles", "oral/genital",
]
DIAGNOSES = {
    "Benign": [
        ("Benign melanocytic proliferations", "Nevus"),
        ("Benign melanocytic proliferations", "Nevus, Compound"),
        ("Benign epidermal proliferations", "Seborrheic keratosis"),
    ],
    "Malignant": [
        ("Malignant melanocytic proliferations (Melanoma)", "Melanoma Invasive"),
        ("Malignant melanocytic proliferations (Melanoma)", "Melanoma in situ"),
    ],
    "Indeterminate": [("", "")],
}


@dataclass
class Lesion:
    """One lesion: its label and the shape/colour parameters all its images share."""

    lesion_id: str
    patient: int
    diagnosis: str
    severity: float
    radius: float
    harmonics: np.ndarray  # (k, 2): amplitude, phase for k = 1..K of the border r(theta)
    colours: np.ndarray  # (m, 3) RGB of the colour regions
    edge: float  # border softness (benign lesions fade out, melanomas stop sharply)
    site: str
    diagnosis_2: str
    diagnosis_3: str


def parse_size(size: int | str | tuple[int, int]) -> tuple[int, int]:
    """`64` -> (64, 64); `"1024x768"` or `(1024, 768)` -> (width, height)."""
    if isinstance(size, str):
        parts = size.lower().split("x")
        size = int(parts[0]) if len(parts) == 1 else (int(parts[0]), int(parts[1]))
    if isinstance(size, int):
        size = (size, size)
    width, height = (int(v) for v in size)
    if min(width, height) < 16:
        raise ValueError(f"synthetic image size {width}x{height} is too small (min 16 px a side)")
    return width, height


def _smooth_noise(rng: np.random.Generator, grid: int, width: int, height: int) -> np.ndarray:
    """Low-frequency noise in about [-1, 1]: a random grid upsampled bicubically."""
    coarse = rng.standard_normal((grid, grid)).astype(np.float32)
    return np.asarray(Image.fromarray(coarse, mode="F").resize((width, height), Image.BICUBIC))


def _make_lesion(rng: np.random.Generator, lesion_id: str, patient: int, diagnosis: str) -> Lesion:
    """Draw lesion parameters from the ABCD rule with class overlap (severity ~ Beta)."""
    if diagnosis == "Malignant":
        s = rng.beta(6, 2)
    elif diagnosis == "Benign":
        s = rng.beta(2, 6)
    else:
        s = rng.uniform(0.35, 0.65)
    k = np.arange(1, 13)
    amp = np.zeros(12)
    amp[0] = 0.02 + 0.16 * s * rng.uniform(0.5, 1.0)  # k=1: off-centre bulge = asymmetry
    amp[1] = rng.uniform(0.0, 0.12)  # k=2: ellipse, symmetric, either class
    amp[2:4] = (0.005 + 0.10 * s) * rng.uniform(0.3, 1.0, 2)  # k=3,4: lopsided lobes
    amp[4:] = (0.003 + 0.05 * s**1.5) * rng.uniform(0.3, 1.0, 8) / np.sqrt(k[4:] / 5)  # ragged border
    harmonics = np.stack([amp, rng.uniform(0, 2 * np.pi, 12)], axis=1)
    n_colours = int(np.clip(1 + round(4 * s + rng.normal(0, 0.5)), 1, 5))
    if n_colours == 1:
        colours = LESION_COLOURS[[rng.choice([0, 1])]]
    else:
        colours = LESION_COLOURS[rng.choice(len(LESION_COLOURS), n_colours, replace=False)]
    d2, d3 = DIAGNOSES[diagnosis][rng.integers(len(DIAGNOSES[diagnosis]))]
    return Lesion(
        lesion_id=lesion_id,
        patient=patient,
        diagnosis=diagnosis,
        severity=float(s),
        radius=float(0.2 + 0.5 * s + rng.normal(0, 0.04)),
        harmonics=harmonics,
        colours=colours * rng.uniform(0.85, 1.1),
        edge=float(0.09 - 0.07 * s + rng.uniform(0, 0.01)),
        site=SITES[rng.integers(len(SITES))],
        diagnosis_2=d2,
        diagnosis_3=d3,
    )


def _draw_lesion(img: np.ndarray, lesion: Lesion, rng: np.random.Generator) -> np.ndarray:
    """Blend the lesion into the skin image (float32 HxWx3), with per-image pose jitter."""
    h, w, _ = img.shape
    half = min(w, h) / 2
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    cx, cy = w / 2 + rng.normal(0, 0.08) * half, h / 2 + rng.normal(0, 0.08) * half
    x, y = (xs - cx) / half, (ys - cy) / half
    rho, theta = np.hypot(x, y), np.arctan2(y, x) + rng.uniform(0, 2 * np.pi)
    k = np.arange(1, 13, dtype=np.float32)[:, None, None]
    amp, phase = lesion.harmonics[:, 0, None, None], lesion.harmonics[:, 1, None, None]
    border = lesion.radius * rng.uniform(0.92, 1.08) * (1 + (amp * np.cos(k * theta + phase)).sum(0))
    alpha = 1 / (1 + np.exp(-(border - rho) / max(lesion.edge, 0.008)))
    if len(lesion.colours) == 1:
        colour = np.broadcast_to(lesion.colours[0], img.shape).astype(np.float32)
    else:  # colour regions: soft arg-max over one smooth noise field per colour
        fields = np.stack([_smooth_noise(rng, 5, w, h) for _ in lesion.colours])
        weights = np.exp(3.0 * fields)
        weights /= weights.sum(0, keepdims=True)
        colour = np.einsum("mhw,mc->hwc", weights, lesion.colours)
    centre_dark = 1 - 0.25 * np.clip(1 - rho / max(lesion.radius, 1e-3), 0, 1)
    colour = colour * centre_dark[..., None] * (1 + 0.06 * _smooth_noise(rng, 12, w, h))[..., None]
    return img * (1 - alpha[..., None]) + colour * alpha[..., None]


def _draw_nuisances(img: Image.Image, rng: np.random.Generator, sticker_prob: float, sticker_scale: float = 1.0):
    """Hair, ruler marks and marker stickers; returns the sticker mask (L image).

    `sticker_scale` multiplies the sticker's radius around the same centre (near the field's edge).
    """
    w, h = img.size
    draw = ImageDraw.Draw(img)
    mask = Image.new("L", img.size, 0)
    unit = min(w, h)
    if rng.random() < 0.35:  # hair: a few dark (or fair) curved strands
        hair = (25, 18, 14) if rng.random() < 0.8 else (200, 170, 120)
        for _ in range(rng.integers(1, 10)):
            p0, p1, p2 = rng.uniform([0, 0], [w, h], (3, 2))
            t = np.linspace(0, 1, 24)[:, None]
            pts = (1 - t) ** 2 * p0 + 2 * (1 - t) * t * p1 + t**2 * p2
            draw.line([tuple(p) for p in pts], fill=hair, width=max(1, unit // 140))
    if rng.random() < 0.15:  # ruler: ticks along one edge
        y0 = int(h * rng.uniform(0.02, 0.08)) if rng.random() < 0.5 else int(h * rng.uniform(0.9, 0.97))
        step = max(3, unit // 28)
        for i, x in enumerate(range(int(w * 0.1), int(w * 0.9), step)):
            length = unit // 18 if i % 5 == 0 else unit // 36
            draw.line([(x, y0), (x, y0 + length)], fill=(20, 20, 20), width=max(1, unit // 200))
    if rng.random() < sticker_prob:  # marker sticker near an edge of the field
        radius = unit * rng.uniform(0.07, 0.12)
        angle = rng.uniform(0, 2 * np.pi)
        cx = w / 2 + np.cos(angle) * (w / 2 - radius * 1.6)
        cy = h / 2 + np.sin(angle) * (h / 2 - radius * 1.6)
        radius *= sticker_scale
        box = [cx - radius, cy - radius, cx + radius, cy + radius]
        draw.ellipse(box, fill=STICKER_COLOURS[rng.integers(len(STICKER_COLOURS))])
        ImageDraw.Draw(mask).ellipse(box, fill=255)
    return mask


def _lighting(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Uneven lighting, exposure and dermoscope vignetting (dark corners outside the lens)."""
    h, w, _ = img.shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    x, y = (xs - w / 2) / (min(w, h) / 2), (ys - h / 2) / (min(w, h) / 2)
    angle = rng.uniform(0, 2 * np.pi)
    gain = rng.uniform(0.85, 1.1) * (1 + rng.uniform(0, 0.12) * (np.cos(angle) * x + np.sin(angle) * y))
    rho = np.hypot(x, y)
    if rng.random() < 0.5:  # round dermoscope field: black outside the lens
        lens = rng.uniform(1.05, 1.4)
        gain = gain * np.clip((lens - rho) / 0.08, 0, 1)
    else:
        gain = gain * (1 - rng.uniform(0.05, 0.2) * rho**2)
    return img * gain[..., None]


def _render(
    lesion: Lesion, fitzpatrick: str, size: tuple[int, int], sticker_prob: float, seed: list[int],
    sticker_scale: float = 1.0,
):
    """Render one image at `size`: returns (RGB uint8 array, sticker mask uint8 array)."""
    rng = np.random.default_rng(seed)
    w, h = size
    scale = min(1.0, RENDER_MAX / max(w, h))
    rw, rh = max(16, round(w * scale)), max(16, round(h * scale))
    skin = np.array(SKIN_TONES[fitzpatrick], np.float32) * rng.uniform(0.93, 1.07, 3)
    img = np.broadcast_to(skin, (rh, rw, 3)) * (1 + 0.04 * _smooth_noise(rng, 6, rw, rh))[..., None]
    img = _draw_lesion(img, lesion, rng)
    pil = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    mask = _draw_nuisances(pil, rng, sticker_prob, sticker_scale)
    img = _lighting(np.asarray(pil, np.float32), rng)
    pil = Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))
    if (rw, rh) != (w, h):
        pil, mask = pil.resize((w, h), Image.BICUBIC), mask.resize((w, h), Image.NEAREST)
    out = np.asarray(pil, np.float32) + rng.normal(0, 3.0, (h, w, 3)).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8), np.asarray(mask)


def plan_metadata(n: int, seed: int, malignant_fraction: float) -> tuple[list[dict], list[Lesion]]:
    """Patients -> lesions -> images, with labels per lesion; returns (rows, lesion per row)."""
    rng = np.random.default_rng([seed, 0])
    counts: list[int] = []
    while sum(counts) < n:
        counts.append(int(min(4, 1 + rng.geometric(0.55) - 1)))
    counts[-1] -= sum(counts) - n
    n_lesions = len(counts)
    patients, p = [], 0
    while len(patients) < n_lesions:
        patients.extend([p] * int(min(5, rng.geometric(0.5))))
        p += 1
    patients = patients[:n_lesions]
    diagnoses = ["Benign"] * n_lesions
    order = rng.permutation(n_lesions)
    n_indet = int(round(INDETERMINATE_RATE * n_lesions))
    for i in order[:n_indet]:
        diagnoses[i] = "Indeterminate"
    labelled = sum(counts[i] for i in order[n_indet:])
    malignant = 0
    for i in order[n_indet:]:
        if malignant + counts[i] / 2 > malignant_fraction * labelled:
            break
        diagnoses[i] = "Malignant"
        malignant += counts[i]
    id_rng = np.random.default_rng([seed, 1])
    image_ids = np.sort(id_rng.choice(10**7, n, replace=False))
    lesion_ids = id_rng.choice(10**7, n_lesions, replace=False)
    patient_ids = id_rng.choice(10**7, p, replace=False)
    sex = id_rng.choice(["male", "female"], p)
    fitz = id_rng.choice(list(SKIN_TONES), p, p=SKIN_PROBS)
    age = id_rng.integers(4, 17, p) * 5
    lesions = [
        _make_lesion(np.random.default_rng([seed, 2, i]), f"IL_{lesion_ids[i]:07d}", patients[i], d)
        for i, d in enumerate(diagnoses)
    ]
    image_lesions = [les for les, c in zip(lesions, counts, strict=True) for _ in range(c)]
    image_lesions = [image_lesions[i] for i in rng.permutation(n)]
    rows = []
    for isic, les in zip(image_ids, image_lesions, strict=True):
        pt = les.patient
        rows.append({
            "isic_id": f"ISIC_{isic:07d}", "attribution": ATTRIBUTION, "copyright_license": LICENSE,
            "age_approx": int(age[pt]) + (5 if les.diagnosis == "Malignant" and age[pt] < 80 else 0),
            "anatom_site_general": les.site, "diagnosis_1": les.diagnosis,
            "diagnosis_2": les.diagnosis_2, "diagnosis_3": les.diagnosis_3,
            "fitzpatrick_skin_type": fitz[pt], "image_type": "dermoscopic",
            "lesion_id": les.lesion_id, "patient_id": f"IP_{patient_ids[pt]:07d}", "sex": sex[pt],
        })
    return rows, image_lesions


def sticker_probability(diagnosis: str, shortcut: float, sticker_rate: float = BASE_STICKER_RATE) -> float:
    """Chance of a marker sticker: `sticker_rate` for every image at `shortcut=0` (label-independent),
    1 on malignant and 0.02 on benign images at `shortcut=1`."""
    if diagnosis == "Malignant":
        return max(sticker_rate, shortcut)
    return sticker_rate * (1 - shortcut) + 0.02 * shortcut


def generate_synthetic(
    out_dir, n: int, size, seed: int = 0, malignant_fraction: float = 0.45,
    shortcut: float = 0.0, masks: bool = False, progress: bool = False,
    sticker_rate: float = BASE_STICKER_RATE, sticker_scale: float = 1.0,
) -> Path:
    """Write `n` synthetic images and their metadata in the isic-cli layout (contract 1).

    Args:
        out_dir: folder to write (created; existing files with the same names are overwritten).
        n: number of images (rows of metadata.csv, a few of them Indeterminate).
        size: square side in px, or (width, height) / "WxH" such as "1024x768".
        seed: everything (ids, labels, pixels) is a function of the seed.
        malignant_fraction: share of Malignant images among Benign + Malignant ones.
        shortcut: probability of a marker sticker on a malignant image (benign: rarely).
        masks: also write `masks/<isic_id>.png`, the sticker mask (255 = sticker).
        progress: show a progress bar.
        sticker_rate: chance of a sticker on any image at `shortcut=0` (label-independent; default
            0.04); at `shortcut=1` malignant images always and benign ones rarely (0.02) get one.
        sticker_scale: sticker radius x this (default 1: 7-12 % of the short side), same centres.

    Returns:
        The output folder.
    """
    if n < 1:
        raise ValueError(f"synthetic --n must be >= 1, got {n}")
    if not 0 < malignant_fraction < 1:
        raise ValueError(f"malignant_fraction must be in (0, 1), got {malignant_fraction}")
    if not 0 <= shortcut <= 1:
        raise ValueError(f"shortcut must be in [0, 1], got {shortcut}")
    if not 0 <= sticker_rate <= 1:
        raise ValueError(f"sticker_rate must be in [0, 1], got {sticker_rate}")
    if not 0 < sticker_scale <= 4:
        raise ValueError(f"sticker_scale must be in (0, 4], got {sticker_scale}")
    wh = parse_size(size)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    if masks:
        (out / "masks").mkdir(exist_ok=True)
    rows, lesions = plan_metadata(n, seed, malignant_fraction)

    def write_one(i: int) -> None:
        row, lesion = rows[i], lesions[i]
        pixels, mask = _render(
            lesion, row["fitzpatrick_skin_type"], wh,
            sticker_probability(row["diagnosis_1"], shortcut, sticker_rate), [seed, 3, i], sticker_scale,
        )
        Image.fromarray(pixels).save(image_path(out, row["isic_id"]), quality=90)
        if masks:
            Image.fromarray(mask).save(out / "masks" / f"{row['isic_id']}.png")

    from tqdm.auto import tqdm

    # numpy and Pillow release the GIL in their heavy parts, so threads use every core.
    with ThreadPoolExecutor() as pool:
        done = pool.map(write_one, range(n))
        for _ in tqdm(done, total=n, desc="synthesising", unit="img", disable=not progress):
            pass
    _write_metadata(out, rows)
    return out


def _write_metadata(out: Path, rows: list[dict]) -> None:
    write_layout_metadata(out, rows, ATTRIBUTION, LICENSE,
                          "CC0 1.0 Universal (public domain dedication). Synthetic images made by "
                          "melanoma-exp; no person is depicted.\n")


def ensure_synthetic_raw(data_cfg, progress: bool = True) -> Path | None:
    """Generate `data.raw_dir` from `data.synth` when the source is synthetic and it is missing.

    Returns the raw folder when it was generated, else None (real data is never generated).
    """
    from omegaconf import DictConfig, OmegaConf

    cfg = OmegaConf.to_container(data_cfg, resolve=True) if isinstance(data_cfg, DictConfig) else data_cfg
    raw_dir = Path(cfg["raw_dir"])
    if cfg.get("source") != "synthetic" or (raw_dir / "metadata.csv").is_file() or not cfg.get("synth"):
        return None
    s = cfg["synth"]
    if progress:
        print(f"generating synthetic raw data ({s['n']} images, {s['size']} px) in {raw_dir}")
    return generate_synthetic(raw_dir, n=int(s["n"]), size=s["size"], seed=int(s["seed"]),
                              malignant_fraction=float(s["malignant_fraction"]),
                              shortcut=float(s["shortcut"]), masks=bool(s["masks"]),
                              sticker_rate=float(s["sticker_rate"]),
                              sticker_scale=float(s["sticker_scale"]), progress=progress)
