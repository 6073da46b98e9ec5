"""The synthetic generator writes isic-cli's layout with realistic, deterministic content."""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from melanoma_exp.commands.main import main
from melanoma_exp.data.synth import generate_synthetic, parse_size

ISIC_BASE = ["isic_id", "attribution", "copyright_license"]


def test_layout_matches_isic_cli(synthetic_raw):
    with (synthetic_raw / "metadata.csv").open(newline="") as f:
        header = next(csv.reader(f))
    # isic-cli: the three base fields, then the sorted union of metadata fields.
    assert header[:3] == ISIC_BASE
    assert header[3:] == sorted(header[3:])
    for column in ["diagnosis_1", "diagnosis_2", "diagnosis_3", "patient_id", "lesion_id",
                   "age_approx", "sex", "anatom_site_general", "image_type", "fitzpatrick_skin_type"]:
        assert column in header
    meta = pd.read_csv(synthetic_raw / "metadata.csv", dtype=str)
    assert len(meta) == 160 and meta["isic_id"].is_unique
    assert meta["isic_id"].str.fullmatch(r"ISIC_\d{7}").all()
    for isic_id in meta["isic_id"]:
        with Image.open(synthetic_raw / f"{isic_id}.jpg") as img:
            assert img.format == "JPEG" and img.size == (64, 64) and img.mode == "RGB"
    assert (synthetic_raw / "attribution.txt").read_text().strip()
    assert [p.name for p in (synthetic_raw / "licenses").iterdir()] == ["CC-0.txt"]
    assert set(meta["copyright_license"]) == {"CC-0"}
    assert len(list((synthetic_raw / "masks").glob("*.png"))) == 160


def test_metadata_has_patients_lesions_and_labels(synthetic_raw):
    meta = pd.read_csv(synthetic_raw / "metadata.csv", dtype=str, keep_default_na=False)
    per_lesion = meta.groupby("lesion_id").size()
    per_patient = meta.groupby("patient_id")["lesion_id"].nunique()
    assert per_lesion.max() > 1, "some lesions must have several images"
    assert per_patient.max() > 1, "some patients must have several lesions"
    # each lesion has one diagnosis, images of a lesion agree
    assert (meta.groupby("lesion_id")["diagnosis_1"].nunique() == 1).all()
    counts = meta["diagnosis_1"].value_counts()
    assert set(counts.index) == {"Benign", "Malignant", "Indeterminate"}
    labelled = counts["Benign"] + counts["Malignant"]
    assert abs(counts["Malignant"] / labelled - 0.45) < 0.08
    assert 1 <= counts["Indeterminate"] <= 16
    assert set(meta["image_type"]) == {"dermoscopic"}
    assert set(meta["sex"]) == {"male", "female"}
    assert len(set(meta["fitzpatrick_skin_type"])) >= 4
    assert meta["age_approx"].astype(int).between(5, 90).all()


def test_deterministic_per_seed(tmp_path):
    a = generate_synthetic(tmp_path / "a", n=12, size=32, seed=3)
    b = generate_synthetic(tmp_path / "b", n=12, size=32, seed=3)
    c = generate_synthetic(tmp_path / "c", n=12, size=32, seed=4)
    assert (a / "metadata.csv").read_bytes() == (b / "metadata.csv").read_bytes()
    ids = pd.read_csv(a / "metadata.csv")["isic_id"]
    assert all((a / f"{i}.jpg").read_bytes() == (b / f"{i}.jpg").read_bytes() for i in ids)
    assert (a / "metadata.csv").read_bytes() != (c / "metadata.csv").read_bytes()


def test_isic_like_non_square_size(tmp_path):
    out = generate_synthetic(tmp_path / "big", n=2, size="1024x768", seed=1)
    for isic_id in pd.read_csv(out / "metadata.csv")["isic_id"]:
        with Image.open(out / f"{isic_id}.jpg") as img:
            assert img.size == (1024, 768)
    assert parse_size(64) == (64, 64) and parse_size((1024, 768)) == (1024, 768)
    with pytest.raises(ValueError, match="too small"):
        parse_size(8)


def test_malignant_lesions_follow_abcd(synthetic_raw):
    """Malignant lesions are larger and more colourful than benign ones on average."""
    meta = pd.read_csv(synthetic_raw / "metadata.csv", dtype=str)
    stats = {"Benign": [], "Malignant": []}
    for isic_id, diagnosis in zip(meta["isic_id"], meta["diagnosis_1"], strict=True):
        if diagnosis not in stats:
            continue
        px = np.asarray(Image.open(synthetic_raw / f"{isic_id}.jpg"), np.float32)
        centre = px[16:48, 16:48]
        skin = np.median(px[[2, -3], 28:36].reshape(-1, 3), axis=0).mean()  # edge middles: skin
        chroma_spread = (centre[..., 0] - centre[..., 2]).std()  # blue/red/white vs uniform brown
        dark_area = (centre.mean(axis=2) < 0.75 * skin).mean()  # lesion area, any skin tone
        stats[diagnosis].append((chroma_spread, dark_area))
    benign, malignant = np.array(stats["Benign"]), np.array(stats["Malignant"])
    assert malignant[:, 0].mean() > benign[:, 0].mean() * 1.3  # Colour: several colours
    assert malignant[:, 1].mean() > benign[:, 1].mean() * 1.5  # Diameter: larger lesions


def test_shortcut_puts_stickers_on_malignant_and_masks_mark_them(tmp_path):
    out = generate_synthetic(tmp_path / "s", n=80, size=32, seed=2, shortcut=1.0, masks=True)
    meta = pd.read_csv(out / "metadata.csv", dtype=str)
    has_sticker = {
        i: np.asarray(Image.open(out / "masks" / f"{i}.png")).max() == 255 for i in meta["isic_id"]
    }
    malignant = [has_sticker[i] for i in meta.loc[meta["diagnosis_1"] == "Malignant", "isic_id"]]
    benign = [has_sticker[i] for i in meta.loc[meta["diagnosis_1"] == "Benign", "isic_id"]]
    assert np.mean(malignant) == 1.0
    assert np.mean(benign) < 0.15
    # the mask marks coloured pixels that are really in the image
    sticker_id = next(i for i, s in has_sticker.items() if s)
    mask = np.asarray(Image.open(out / "masks" / f"{sticker_id}.png")) == 255
    img = np.asarray(Image.open(out / f"{sticker_id}.jpg"), np.float32)
    saturation = img.max(axis=2) - img.min(axis=2)
    assert saturation[mask].mean() > saturation[~mask].mean()


def _sticker_masks(out) -> dict[str, np.ndarray]:
    meta = pd.read_csv(out / "metadata.csv", dtype=str)
    return {i: np.asarray(Image.open(out / "masks" / f"{i}.png")) == 255 for i in meta["isic_id"]}


def test_sticker_rate_puts_label_independent_stickers_at_shortcut_zero(tmp_path):
    out = generate_synthetic(tmp_path / "r", n=120, size=32, seed=3, sticker_rate=0.5, masks=True)
    meta = pd.read_csv(out / "metadata.csv", dtype=str).set_index("isic_id")
    marked = {i: m.any() for i, m in _sticker_masks(out).items()}
    share = {d: np.mean([marked[i] for i in meta.index[meta["diagnosis_1"] == d]]) for d in ("Benign", "Malignant")}
    assert 0.3 < share["Benign"] < 0.7 and 0.3 < share["Malignant"] < 0.7
    # at shortcut=1 the rate no longer matters: every malignant image, few benign ones
    out1 = generate_synthetic(tmp_path / "r1", n=60, size=32, seed=3, sticker_rate=0.5, shortcut=1.0, masks=True)
    meta1 = pd.read_csv(out1 / "metadata.csv", dtype=str).set_index("isic_id")
    marked1 = {i: m.any() for i, m in _sticker_masks(out1).items()}
    assert all(marked1[i] for i in meta1.index[meta1["diagnosis_1"] == "Malignant"])
    assert np.mean([marked1[i] for i in meta1.index[meta1["diagnosis_1"] == "Benign"]]) < 0.15


def test_sticker_scale_grows_each_sticker_around_the_same_centre(tmp_path):
    kwargs = {"n": 24, "size": 64, "seed": 4, "shortcut": 1.0, "masks": True}
    small = _sticker_masks(generate_synthetic(tmp_path / "x1", **kwargs))
    large = _sticker_masks(generate_synthetic(tmp_path / "x2", sticker_scale=2.0, **kwargs))
    assert [m.any() for m in small.values()] == [m.any() for m in large.values()]
    pairs = [(small[i], large[i]) for i in small if small[i].any()]
    assert pairs
    for s, big in pairs:
        assert big[s].all()  # the default sticker lies inside the scaled one
        assert big.sum() > 2.5 * s.sum()  # about 4x the area, less what the image edge cuts off


def test_cli_synth(tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["data", "synth", "--out", str(out), "--n", "6", "--size", "48x32", "--seed", "5",
                 "--malignant-fraction", "0.5", "--masks"]) == 0
    assert "wrote 6" in capsys.readouterr().out
    assert len(list(out.glob("ISIC_*.jpg"))) == 6 and len(list((out / "masks").glob("*.png"))) == 6
    with Image.open(next(out.glob("ISIC_*.jpg"))) as img:
        assert img.size == (48, 32)
    every = tmp_path / "cli_stickers"
    assert main(["data", "synth", "--out", str(every), "--n", "6", "--size", "32", "--sticker-rate", "1",
                 "--sticker-scale", "1.5", "--masks"]) == 0
    assert all(m.any() for m in _sticker_masks(every).values())


@pytest.mark.parametrize("kwargs, message", [
    ({"n": 0}, "--n must be >= 1"),
    ({"malignant_fraction": 1.5}, "malignant_fraction"),
    ({"shortcut": -0.1}, "shortcut"),
    ({"sticker_rate": 1.5}, "sticker_rate"),
    ({"sticker_scale": 0}, "sticker_scale"),
])
def test_bad_arguments_are_named(tmp_path, kwargs, message):
    args = {"n": 4, "size": 32, **kwargs}
    with pytest.raises(ValueError, match=message):
        generate_synthetic(tmp_path / "x", **args)
