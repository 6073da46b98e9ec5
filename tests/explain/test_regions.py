"""Where the model looks: region masks on drawn and real dermoscopy, mass shares, and the report."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from melanoma_exp.explain.dermoscopy_masks import (
    REGIONS,
    dark_corner_mask,
    hair_mask,
    ink_mask,
    lesion_mask,
    region_masks,
)
from melanoma_exp.explain.regions import read_split, region_report, region_shares
from melanoma_exp.paths import project_root

SIDE = 224
SKIN = (222, 172, 150)
SAMPLE = project_root() / "samples" / "isic_uda1"
# Real sample images: plain skin, a dermatoscope vignette (ISIC_0000249), melanomas and nevi.
REAL_IDS = ("ISIC_0000000", "ISIC_0000002", "ISIC_0000004", "ISIC_0000249", "ISIC_0000277", "ISIC_0000321")


def skin(seed: int = 0) -> np.ndarray:
    """Skin-coloured 224 px photo with mild pixel noise (float 0-255)."""
    noise = np.random.default_rng(seed).normal(0, 4, (SIDE, SIDE, 3))
    return np.clip(np.array(SKIN, float) + noise, 0, 255)


def disc(centre=(112, 112), radius=40) -> np.ndarray:
    rows, cols = np.mgrid[:SIDE, :SIDE]
    return (rows - centre[0]) ** 2 + (cols - centre[1]) ** 2 <= radius ** 2


def iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


def test_a_dark_disc_on_skin_is_the_lesion_and_nothing_else():
    image, truth = skin(), disc()
    image[truth] = (110, 70, 50)
    masks = region_masks(image)
    assert iou(masks["lesion"], truth) > 0.9
    assert not masks["dark_corners"].any() and not masks["ink"].any()
    assert masks["hair"].sum() < 0.002 * SIDE * SIDE
    assert sum(m.astype(int) for m in masks.values()).max() == 1  # a partition: each pixel in one region
    assert set(masks) == set(REGIONS)


def test_an_off_centre_blob_loses_to_a_central_lesion():
    image, lesion = skin(1), disc(radius=30)
    image[lesion] = (110, 70, 50)
    image[disc((20, 20), 14)] = (110, 70, 50)  # a smaller dark blob in a corner
    assert iou(lesion_mask(image), lesion) > 0.9


def test_the_dermatoscope_vignette_is_dark_corners_not_lesion():
    image, lesion = skin(2), disc(radius=35)
    image[lesion] = (120, 80, 60)
    field = disc(radius=125)  # the round field of view; outside it, near-black
    image[~field] = (6, 5, 5)
    corners = dark_corner_mask(image)
    assert iou(corners, ~field) > 0.9
    masks = region_masks(image)
    assert iou(masks["lesion"], lesion) > 0.85
    assert not (masks["lesion"] & ~field).any()


def test_thin_dark_lines_are_hair_and_a_round_dot_is_not():
    image = skin(3)
    lines = np.zeros((SIDE, SIDE), bool)
    for offset in (30, 90, 150):  # three diagonal hairs, 2 px wide
        for r in range(10, 200):
            c = (r + offset) % SIDE
            lines[r, c:c + 2] = True
    image[lines] = (70, 50, 45)
    dot = disc((190, 40), 8)
    image[dot] = (70, 50, 45)
    hair = hair_mask(image)
    assert hair[lines].mean() > 0.7
    assert not hair[dot].any()
    assert (hair & ~lines).sum() < 0.2 * lines.sum()


def test_a_purple_marker_dot_is_ink_but_blue_grey_inside_a_lesion_is_lesion():
    image, lesion = skin(4), disc(radius=40)
    image[lesion] = (105, 70, 55)
    veil = disc((112, 112), 12)
    image[veil] = (80, 90, 130)  # blue-grey pigment inside the lesion
    dot = disc((30, 190), 6)
    image[dot] = (120, 55, 165)  # gentian-violet marker dot
    assert ink_mask(image)[dot].mean() > 0.9
    masks = region_masks(image)
    assert masks["ink"][dot].mean() > 0.9
    assert not masks["ink"][veil].any() and masks["lesion"][veil].all()


def test_pale_blue_background_is_not_ink():
    image = np.full((SIDE, SIDE, 3), (176.0, 212.0, 255.0))  # the pale blue around some sample lesions
    assert not ink_mask(image).any()


def test_mass_shares_follow_the_heatmap():
    image, truth = skin(), disc()
    image[truth] = (110, 70, 50)
    masks = region_masks(image)
    inside = region_shares(truth.astype(float), masks)  # all mass in the disc
    assert inside["lesion"]["mass"] == pytest.approx(1.0, abs=0.03)
    assert inside["lesion"]["lift"] == pytest.approx(1.0 / inside["lesion"]["area"], rel=0.05)
    even = region_shares(np.ones((SIDE, SIDE)), masks)  # an even map: every lift is 1 (chance)
    for name in REGIONS:
        assert even[name]["mass"] == pytest.approx(even[name]["area"])
        assert even[name]["lift"] in (None, pytest.approx(1.0))
    assert sum(even[name]["mass"] for name in REGIONS) == pytest.approx(1.0)
    zero = region_shares(np.zeros((SIDE, SIDE)), masks)
    assert all(zero[name]["mass"] is None for name in REGIONS)
    with pytest.raises(ValueError, match="heatmap shape"):
        region_shares(np.ones((7, 7)), masks)


def real_input(isic_id: str) -> np.ndarray:
    from serving.decode import decode_image, to_model_input

    decoded = decode_image((SAMPLE / f"{isic_id}.jpg").read_bytes(), min_side=SIDE, max_pixels=10 ** 8)
    return to_model_input(decoded.image, height=SIDE, width=SIDE, resize_method="bilinear")


@pytest.mark.parametrize("isic_id", REAL_IDS)
def test_lesion_mask_on_real_dermoscopy_is_a_central_blob(isic_id):
    masks = region_masks(real_input(isic_id))
    lesion = masks["lesion"]
    share = lesion.mean()
    assert 0.02 < share < 0.8, f"{isic_id}: lesion mask covers {share:.1%} of the frame"
    rows, cols = np.nonzero(lesion)
    assert abs(rows.mean() - SIDE / 2) < 0.25 * SIDE and abs(cols.mean() - SIDE / 2) < 0.25 * SIDE
    if isic_id == "ISIC_0000249":  # the dermatoscope's black corners
        assert masks["dark_corners"].mean() > 0.1 and not (lesion & masks["dark_corners"]).any()


@pytest.fixture(scope="module")
def tiny_bundle(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("regions_bundle") / "bundle"
    proc = subprocess.run([sys.executable, "-m", "melanoma_exp.export.tiny_bundle", "--out", str(out),
                           "--size", "64"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (out / "explain.tflite").is_file()
    return out


@pytest.fixture(scope="module")
def raw_folder(tmp_path_factory) -> Path:
    """Six real sample images and one corrupt file, in the isic-cli layout."""
    raw = tmp_path_factory.mktemp("regions_raw")
    with (SAMPLE / "metadata.csv").open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        rows = [row for row in reader if row["isic_id"] in REAL_IDS]
        fields = reader.fieldnames
    for row in rows:
        shutil.copy(SAMPLE / f"{row['isic_id']}.jpg", raw / f"{row['isic_id']}.jpg")
    rows.append({**rows[0], "isic_id": "ISIC_9999999"})
    (raw / "ISIC_9999999.jpg").write_bytes(b"\xff\xd8\xff\xe0 truncated, not a JPEG")
    with (raw / "metadata.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    return raw


def test_region_report_on_real_images(tiny_bundle, raw_folder, tmp_path):
    report = region_report(tiny_bundle, raw_folder, tmp_path / "out")
    saved = json.loads((tmp_path / "out" / "regions.json").read_text())
    assert saved == json.loads(json.dumps(report))
    assert report["images"] == {"requested": 7, "scored": 6, "skipped": 1, "no_heatmap": report["images"]["no_heatmap"]}
    assert report["skipped"][0]["isic_id"] == "ISIC_9999999" and "ISIC_9999999.jpg" in report["skipped"][0]["reason"]
    assert sum(report["lesion_mask"].values()) == 6
    assert {"overall", "benign", "malignant"} <= set(report["summary"])
    assert report["summary"]["overall"]["images"] == 6
    for row in report["per_image"]:
        assert set(row["regions"]) == set(REGIONS) and 0.0 <= row["probability"] <= 1.0
        assert sum(r["area"] for r in row["regions"].values()) == pytest.approx(1.0)
        if row["regions"]["other_skin"]["mass"] is not None:
            named = sum(row["regions"][name]["mass"] for name in REGIONS if name != "other_skin")
            assert named <= 1.0 + 1e-9
            assert named + row["regions"]["other_skin"]["mass"] == pytest.approx(1.0)
    sheet = tmp_path / "out" / "regions_contact_sheet.png"
    assert report["contact_sheet"] == sheet.name and sheet.stat().st_size > 1000


def test_region_report_scores_one_split_and_names_bad_arguments(tiny_bundle, raw_folder, tmp_path):
    index = tmp_path / "index.csv"
    index.write_text("isic_id,split\n" + "".join(f"{i},{'test' if n < 2 else 'train'}\n"
                                                  for n, i in enumerate(REAL_IDS)))
    report = region_report(tiny_bundle, raw_folder, tmp_path / "out", split_index=index, split="test")
    assert [row["isic_id"] for row in report["per_image"]] == list(REAL_IDS[:2])
    assert report["split"] == {"index": str(index), "name": "test"}
    with pytest.raises(ValueError, match="no rows in split 'val'. Its splits: test, train"):
        read_split(index, "val")
    with pytest.raises(FileNotFoundError, match="metadata.csv"):
        region_report(tiny_bundle, tmp_path, tmp_path / "out")
    from serving.model import BundleError

    plain = tmp_path / "old_bundle"
    plain.mkdir()
    spec = json.loads((tiny_bundle / "model.json").read_text())
    spec.pop("explain")
    (plain / "model.json").write_text(json.dumps(spec))
    with pytest.raises(BundleError, match="no explain entry"):
        region_report(plain, raw_folder, tmp_path / "out")
