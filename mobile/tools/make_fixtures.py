"""Write the preprocessing-parity fixtures for the Kotlin core tests, computed by the serving app.

`python mobile/tools/make_fixtures.py --bundle DIR --out DIR` draws a few deterministic test photos
(PNG, semi-transparent PNG, JPEG, a large one, a dark one, JPEGs with each EXIF orientation, five
for the exposure measures — a dim grey scene, a lesion on dark skin, a lesion with a fifth of the
frame blown out to white, a neutral scene as bright as that dark skin, a lesion with a yellow sticker
clipped —, two photos of no lesion at all: a green wall and noise, and real dermoscopy: an image of
the in-repo ISIC UDA-1 sample (CC0) as it ships, sharp though its Laplacian variance is under the
blur limit, and a Gaussian-blurred copy of it), runs them
through the serving app's own
decoding, resizing and quality gate (`serving.decode`, `serving.quality`) and writes what it got:
each model input as raw little-endian float32 (`*.f32`, HWC) and the rest in `expected.json`. When
the bundle carries the not-a-lesion check (model.json ``ood``), each photo also gets the serving
app's squared distance (`serving.ood`) and its complete answer (`serving.service`). The Kotlin
tests decode the same files on the JVM and must reproduce these numbers.

`expected.json` also holds `uploads`: photos larger than the bundle's `quality_gate.upload_max_side_px`
(a wide RGB one, and a tall semi-transparent one that Pillow resamples vertically first), decoded by
the serving app and downscaled as the app's `UploadPhoto` must downscale them (Pillow's BOX resize to
that long side, Python's rounding); the result is written as PNG and the Kotlin core must reproduce
it bit for bit.

`expected.json` also holds the `advice` table: for several decision thresholds and a fine grid of
probabilities (every band edge max_threshold_fraction x t, each threshold and their float
neighbours included) the label and advice level that `serving.recommend.recommend` gives with the
bundle's own bands, plus a few answers for photos with quality issues (the full retake text). The
app's `Advisor` must reproduce every row.

When the bundle has the Grad-CAM model (model.json ``explain``), `expected.json` also holds
`explain`: for several photos (the real dermoscopy one among them) the serving app's
`serving.explain.ExplainModel` run on the photo's model input (the `.f32` above): the map at its
exact float32 values, the overlay `serving.explain.overlay` draws from it (`explain_*.png`), the
answer's whole `explanation` object (4-decimal map, base64 PNG) and the overlay drawn from that
rounded map (`explain_*_answer_map.png`); plus a synthetic map of a
non-square size over a non-square image at another alpha, to catch swapped axes or alpha. The app's
`Overlay` must redraw every PNG.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # serving/ is a top-level package of the checkout

from serving.decode import decode_image, to_model_input, upload_size  # noqa: E402
from serving.explain import load_explain, overlay, overlay_png  # noqa: E402
from serving.quality import assess_quality  # noqa: E402
from serving.recommend import recommend  # noqa: E402
from serving.service import LesionService  # noqa: E402
from serving.settings import Settings  # noqa: E402

# Methods the serving app accepts, checked at a non-square size to catch axis mix-ups.
METHODS = ["bilinear", "bicubic", "nearest", "box", "lanczos"]
ODD_SIZE = (48, 64)  # (height, width)
ORIENTATION_TAG = 0x0112
# Decision thresholds the advice table is computed at: the sensitivity-first operating points of
# small models up to a very conservative one (the rule must hold for any t in (0, 1)).
ADVICE_THRESHOLDS = (0.02, 0.045, 0.1, 0.3, 0.5, 0.8)
ADVICE_ISSUES = (["blurry"], ["too_dark", "lens_smudge"], ["not_a_lesion"])
# Real dermoscopy from the in-repo sample (ISIC UDA-1, CC0; samples/isic_uda1/ATTRIBUTION.txt): the
# sample's lowest Laplacian variance (6.4 < blur_min_laplacian_var), sharp by its edges, so the edge
# sharpness decides its verdict; the blurred copy (Gaussian, sigma 0.5 % of the long side) is blurry.
DERMOSCOPY = ROOT / "samples" / "isic_uda1" / "ISIC_0000384.jpg"
DERMOSCOPY_BLUR = 0.005
# Photos whose model input gets the serving app's Grad-CAM map and overlay (real dermoscopy first).
EXPLAIN_PHOTOS = ("dermoscopy_jpg", "dermoscopy_blurred_png", "lesion_png", "dark_png", "wall_png")
# A synthetic map: 5 rows x 3 columns over a 48 x 64 image at alpha 0.7 (neither square nor the
# bundle's alpha), so transposed axes or a swapped blend cannot pass.
SYNTHETIC_GRID = (5, 3)
SYNTHETIC_ALPHA = 0.7


def lesion_rgb(width: int, height: int, seed: int) -> np.ndarray:
    """A skin-toned gradient with a dark irregular blob, hair-like lines and noise (uint8 HWC)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.stack([200 + 30 * xx / width, 150 + 20 * yy / height, 120 + 10 * np.sin(xx / 7)], axis=-1)
    cy, cx, r = height * 0.5, width * 0.45, min(width, height) * 0.28
    angle = np.arctan2(yy - cy, xx - cx)
    inside = (yy - cy) ** 2 + (xx - cx) ** 2 < (r * (1 + 0.2 * np.sin(5 * angle))) ** 2
    img[inside] = [90, 55, 40]
    img[(xx + 2 * yy).astype(int) % 23 == 0] = [40, 30, 25]  # hair
    img += rng.normal(0, 9, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def non_lesion_rgb(kind: str, width: int, height: int, seed: int) -> np.ndarray:
    """Photos of no lesion at all, sharp and well lit: a green wall, or uniform noise (uint8 HWC)."""
    rng = np.random.default_rng(seed)
    if kind == "wall":
        img = np.full((height, width, 3), (40, 160, 70), np.float32) + rng.normal(0, 12, (height, width, 3))
    else:
        img = rng.uniform(0, 255, (height, width, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def exposure_rgb(kind: str, width: int, height: int, seed: int) -> np.ndarray:
    """Photos on either side of the exposure limits relative to the scene (uint8 HWC).

    ``dim``: a neutral grey lesion scene ~3 stops under, mean luma above the mean floor but no pixel
    near white (too dark only by the midtone/highlight rule); ``dark_skin``: a lesion on very dark
    skin, luma as low as the dim scene's, red channel far above it (passes); ``white_band``: a lesion
    with the top fifth of the frame clipped white in all channels (over-exposed only by that rule);
    ``neutral_dim``: the grey scene with the dark skin's midtone (too dark only because it is neutral);
    ``colour_clipped``: a lesion with a yellow sticker in a tenth of the frame, red and green clipped
    (over-exposed only by the saturated-colour rule).
    """
    img = lesion_rgb(width, height, seed).astype(np.float32)
    if kind == "dim":
        img = np.repeat(img.mean(axis=2, keepdims=True), 3, axis=2) * 0.35
    elif kind == "neutral_dim":
        img = np.repeat(img.mean(axis=2, keepdims=True), 3, axis=2) * 0.5
    elif kind == "dark_skin":
        img = img * np.array([0.37, 0.3, 0.3], np.float32)
    elif kind == "colour_clipped":
        img[-height // 10:] = (255, 255, 40)
    else:
        img[: height // 5] = 255
    return np.clip(img, 0, 255).astype(np.uint8)


def write_photos(out: Path) -> dict[str, Path]:
    """Write the fixture photos; returns name -> path."""
    photos = {}
    photos["lesion_png"] = out / "lesion.png"
    Image.fromarray(lesion_rgb(97, 61, 1)).save(photos["lesion_png"])
    rgba = np.dstack([lesion_rgb(40, 50, 2), np.tile(np.linspace(0, 255, 40).astype(np.uint8), (50, 1))])
    photos["alpha_png"] = out / "alpha.png"
    Image.fromarray(rgba, "RGBA").save(photos["alpha_png"])
    photos["lesion_jpg"] = out / "lesion.jpg"
    Image.fromarray(lesion_rgb(120, 90, 3)).save(photos["lesion_jpg"], quality=92)
    photos["large_png"] = out / "large.png"
    Image.fromarray(lesion_rgb(700, 530, 4)).save(photos["large_png"])
    photos["dark_png"] = out / "dark.png"
    Image.fromarray((lesion_rgb(80, 80, 5) // 8).astype(np.uint8)).save(photos["dark_png"])
    for kind in ("dim", "dark_skin", "white_band", "neutral_dim", "colour_clipped"):
        photos[f"{kind}_png"] = out / f"{kind}.png"
        Image.fromarray(exposure_rgb(kind, 96, 96, 10)).save(photos[f"{kind}_png"])
    for kind in ("wall", "noise"):
        photos[f"{kind}_png"] = out / f"{kind}.png"
        Image.fromarray(non_lesion_rgb(kind, 160, 120, 7)).save(photos[f"{kind}_png"])
    photos["dermoscopy_jpg"] = out / "dermoscopy.jpg"
    photos["dermoscopy_jpg"].write_bytes(DERMOSCOPY.read_bytes())
    with Image.open(DERMOSCOPY) as real:
        blurred = real.convert("RGB").filter(ImageFilter.GaussianBlur(DERMOSCOPY_BLUR * max(real.size)))
    photos["dermoscopy_blurred_png"] = out / "dermoscopy_blurred.png"
    blurred.save(photos["dermoscopy_blurred_png"])
    # A landscape JPEG tagged with every EXIF orientation: the server turns each upright first.
    for orientation in range(1, 9):
        exif = Image.Exif()
        exif[ORIENTATION_TAG] = orientation
        photos[f"exif{orientation}_jpg"] = out / f"exif{orientation}.jpg"
        Image.fromarray(lesion_rgb(72, 40, 6)).save(photos[f"exif{orientation}_jpg"], quality=95,
                                                     exif=exif.tobytes())
    return photos


def reference(bundle: Path, out: Path) -> dict:
    """Compute the serving side's numbers for every fixture photo."""
    spec = json.loads((bundle / "model.json").read_text(encoding="utf-8"))
    inp, gate = spec["input"], spec["quality_gate"]
    decode_side = max(inp["height"], inp["width"], int(gate["analysis_max_side_px"]))
    cases = [(inp["resize_method"], inp["height"], inp["width"], inp.get("resize_aspect", "center_crop"))]
    cases += [(m, *ODD_SIZE, aspect) for m in METHODS for aspect in ("center_crop", "stretch")]
    expected = {"bundle_input": inp, "quality_gate": gate, "photos": {}}
    # The whole serving answer too, when the bundle has the not-a-lesion check: the phone must
    # report it exactly as the server does.
    service = LesionService(Settings(bundle_dir=bundle)) if spec.get("ood") else None
    for name, path in write_photos(out).items():
        decoded = decode_image(path.read_bytes(), min_side=decode_side, max_pixels=120_000_000)
        report = assess_quality(decoded.image, decoded.original_size, gate)
        tensors, inputs = [], []
        # The orientation photos only need the bundle's own case plus one non-square one.
        for method, height, width, aspect in cases if not name.startswith("exif") else cases[:3]:
            x = to_model_input(decoded.image, height=height, width=width, resize_method=method,
                               resize_aspect=aspect)
            file = f"{name}_{method}_{aspect}_{height}x{width}.f32"
            x.astype("<f4").tofile(out / file)
            inputs.append(x)
            tensors.append({"method": method, "aspect": aspect, "height": height, "width": width, "file": file,
                            "channel_means": [float(x[..., c].mean()) for c in range(3)]})
        expected["photos"][name] = {
            "file": path.name,
            "exif_orientation": int(Image.open(path).getexif().get(ORIENTATION_TAG, 1)),
            "decoded_size": list(decoded.image.size),
            "original_size": list(decoded.original_size),
            "quality": {"ok": report.ok, "issues": report.issues, "laplacian_var": report.laplacian_var,
                        "mean_luma": report.mean_luma, "clipped_fraction": report.clipped_fraction,
                        "midtone": report.midtone, "highlight": report.highlight,
                        "white_fraction": report.white_fraction, "neutral_ratio": report.neutral_ratio,
                        "colour_clipped_fraction": report.colour_clipped_fraction,
                        "edge_sharpness": report.edge_sharpness},
            "tensors": tensors,
        }
        if service is not None:
            # inputs[0] is the bundle's own input, decoded exactly as the service decodes uploads.
            answer = service.analyse(path.read_bytes())
            answer.pop("latency_ms")
            expected["photos"][name]["ood"] = {"score": service.ood.score(inputs[0]),
                                               "answer": answer}
    return expected


def explain_references(bundle: Path, spec: dict, out: Path, photos: dict) -> dict | None:
    """The serving app's Grad-CAM map, overlay and answer for a few fixture photos; None without
    model.json ``explain``."""
    model = load_explain(bundle, spec, threads=1)
    if model is None:
        return None
    cases = {}
    for name in EXPLAIN_PHOTOS:
        tensor = photos[name]["tensors"][0]  # the bundle's own input
        image = np.fromfile(out / tensor["file"], dtype="<f4").reshape(tensor["height"], tensor["width"], 3)
        probability, heatmap = model.explain(image)
        answer = model.explanation(image, heatmap)  # its PNG is serving.explain.overlay of this map
        (out / f"explain_{name}.png").write_bytes(base64.b64decode(answer["overlay_png"]))
        # The overlay of the answer's own map (rounded to 4 decimals): what the app draws from it.
        rounded = np.array(answer["heatmap"]["values"], dtype=np.float64)
        (out / f"explain_{name}_answer_map.png").write_bytes(overlay_png(overlay(image, rounded, model.alpha)))
        cases[name] = {"input": tensor["file"], "height": tensor["height"], "width": tensor["width"],
                       "probability": probability, "alpha": model.alpha,
                       "heatmap": [[float(v) for v in row] for row in heatmap],  # float32, exactly
                       "overlay": f"explain_{name}.png", "answer": answer,
                       "answer_map_overlay": f"explain_{name}_answer_map.png"}
    rows, cols = SYNTHETIC_GRID
    yy, xx = np.mgrid[0:rows, 0:cols]
    grid = ((0.13 * yy + 0.41 * xx + 0.07 * yy * xx) % 1.0).astype(np.float32)  # every jet segment
    grid[0, 0], grid[-1, -1] = 0.0, 1.0
    height, width = ODD_SIZE
    image = lesion_rgb(width, height, 11).astype(np.float32)
    image.astype("<f4").tofile(out / "explain_synthetic.f32")
    (out / "explain_synthetic.png").write_bytes(overlay_png(overlay(image, grid, SYNTHETIC_ALPHA)))
    cases["synthetic"] = {"input": "explain_synthetic.f32", "height": height, "width": width,
                          "alpha": SYNTHETIC_ALPHA, "heatmap": [[float(v) for v in row] for row in grid],
                          "overlay": "explain_synthetic.png"}
    return {"method": model.method, "cases": cases}


def upload_references(bundle: Path, out: Path) -> dict:
    """Photos above ``upload_max_side_px`` and Pillow's BOX downscale of each, as the app uploads them."""
    spec = json.loads((bundle / "model.json").read_text(encoding="utf-8"))
    max_side = int(spec["quality_gate"].get("upload_max_side_px", 1024))
    sources = {
        "upload_wide": Image.fromarray(lesion_rgb(max_side + 376, (max_side + 376) * 3 // 4, 8)),
        "upload_tall": Image.fromarray(np.dstack([
            lesion_rgb(600, 2 * max_side - 48, 9),
            np.tile(np.linspace(40, 255, 600).astype(np.uint8), (2 * max_side - 48, 1)),
        ]), "RGBA"),
    }
    uploads = {}
    for name, image in sources.items():
        image.save(out / f"{name}.png")
        decoded = decode_image((out / f"{name}.png").read_bytes(), min_side=max_side, max_pixels=120_000_000)
        size = upload_size(decoded.image.size, max_side)
        decoded.image.resize(size, Image.Resampling.BOX).save(out / f"{name}_expected.png")
        uploads[name] = {"file": f"{name}.png", "expected": f"{name}_expected.png", "max_side": max_side,
                         "source_size": list(decoded.image.size), "size": list(size)}
    return uploads


def with_neighbours(values) -> list[float]:
    """Each value and the floats just below and above it."""
    return [v for x in values for v in (np.nextafter(x, -np.inf), x, np.nextafter(x, np.inf))]


def advice_table(bands: dict) -> dict:
    """The serving app's (label, level) for thresholds x a probability grid, with these bands.

    Rows are ``[threshold, p, label, level]``; the grid is 0..1 in steps of 0.0025 plus every
    threshold and every band edge ``max_threshold_fraction * t`` (computed as the rule computes
    it) with their float neighbours, all within [0, 1].
    """
    fractions = [float(b["max_threshold_fraction"]) for b in bands["benign"]]
    rows, with_issues = [], []
    for t in ADVICE_THRESHOLDS:
        edges = with_neighbours([*ADVICE_THRESHOLDS, *(f * t for f in fractions)])
        grid = np.unique(np.clip(np.concatenate([np.linspace(0.0, 1.0, 401), edges]), 0.0, 1.0))
        for p in grid:
            label, advice = recommend(float(p), t, bands, [])
            rows.append([t, float(p), label, advice["level"]])
        # A bad photo leads with "retake" and keeps the band's advice: a mild, an uncertain and a
        # malignant band, each with other issues.
        for p, issues in zip((0.1 * t, 0.9 * t, min(1.0, 1.5 * t)), ADVICE_ISSUES, strict=True):
            label, advice = recommend(p, t, bands, list(issues))
            with_issues.append({"threshold": t, "p": p, "issues": list(issues), "label": label,
                                "recommendation": advice})
    return {"thresholds": list(ADVICE_THRESHOLDS), "rows": rows, "with_issues": with_issues}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", required=True, type=Path, help="model bundle folder (model.json)")
    parser.add_argument("--out", required=True, type=Path, help="fixtures folder to (re)write")
    args = parser.parse_args(argv)
    if not (args.bundle / "model.json").is_file():
        parser.error(f"no model.json in --bundle {args.bundle}")
    args.out.mkdir(parents=True, exist_ok=True)
    expected = reference(args.bundle, args.out)
    spec = json.loads((args.bundle / "model.json").read_text(encoding="utf-8"))
    expected["advice"] = advice_table(spec["recommendation_bands"])
    expected["uploads"] = upload_references(args.bundle, args.out)
    if (explain := explain_references(args.bundle, spec, args.out, expected["photos"])) is not None:
        expected["explain"] = explain
    (args.out / "expected.json").write_text(json.dumps(expected, indent=1), encoding="utf-8")
    print(f"fixtures: {len(expected['photos'])} photos, {len(expected['advice']['rows'])} advice rows -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
