"""The real dermoscopy sample (samples/isic_uda1) and the v1 JSON -> isic-cli layout converter.

The sample is real data nobody here made (ISIC Archive UDA-1, CC0); these tests check that what the
repository ships is exactly what the project's converter makes of the archive's own v1 JSON, that it
is a first-class source (`data=isic_sample`), and that its manifest says the split is not grouped.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from PIL import Image

from melanoma_exp.data.isic_v1 import V1FormatError, check_hierarchy, metadata_rows, v1_row
from melanoma_exp.data.layout import LABELS, read_metadata, validate_raw, write_layout_metadata
from melanoma_exp.paths import project_root

SAMPLE = project_root() / "samples" / "isic_uda1"


def test_shipped_metadata_is_the_converters_output_of_the_archives_v1_json(tmp_path):
    rows = metadata_rows(SAMPLE, SAMPLE / "v1")
    write_layout_metadata(tmp_path, rows, rows[0]["attribution"], rows[0]["copyright_license"], "")
    assert (SAMPLE / "metadata.csv").read_bytes() == (tmp_path / "metadata.csv").read_bytes()
    assert (SAMPLE / "attribution.txt").read_text() == "Anonymous"
    assert len(rows) == len(list((SAMPLE / "v1").glob("*.json"))) == len(list(SAMPLE.glob("ISIC_*.jpg")))


def test_labels_follow_benign_malignant_and_every_path_is_in_the_archives_hierarchy():
    frame = read_metadata(SAMPLE)
    for isic_id, diagnosis_1, d2, d3 in frame[["isic_id", "diagnosis_1", "diagnosis_2", "diagnosis_3"]].itertuples(index=False):
        v1 = json.loads((SAMPLE / "v1" / f"{isic_id}.json").read_text())["meta"]["clinical"]
        assert diagnosis_1 == v1["benign_malignant"].capitalize()
        check_hierarchy(tuple(x for x in (diagnosis_1, d2, d3) if x))
    assert set(frame["diagnosis_1"]) <= set(LABELS)
    assert (frame["diagnosis_1"] == "Malignant").sum() >= 100  # enough melanomas to measure an AUC
    assert set(frame["copyright_license"]) == {"CC-0"}
    assert (SAMPLE / "ATTRIBUTION.txt").is_file() and (SAMPLE / "licenses" / "CC-0.txt").is_file()


def test_sample_is_a_valid_isic_cli_layout_of_small_real_images():
    report = validate_raw(SAMPLE)
    assert report.bad == 0 and report.ok == report.rows
    sizes = [Image.open(p).size for p in sorted(SAMPLE.glob("ISIC_*.jpg"))[:20]]
    assert all(max(s) <= 512 and min(s) >= 224 for s in sizes), sizes
    total = sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file())
    assert total < 25 * 2**20, f"the sample grew to {total / 2**20:.1f} MiB (limit 25)"


def test_contradicting_or_unknown_v1_diagnoses_are_refused_by_name():
    record = {"name": "ISIC_X", "meta": {"clinical": {"benign_malignant": "benign", "diagnosis": "melanoma"}}}
    with pytest.raises(V1FormatError, match="ISIC_X.*contradicts"):
        v1_row(record, "a", "CC-0")
    record["meta"]["clinical"]["diagnosis"] = "seborrheic keratosis"
    with pytest.raises(V1FormatError, match="ISIC_X.*'seborrheic keratosis'.*DIAGNOSIS_PATHS"):
        v1_row(record, "a", "CC-0")
    with pytest.raises(V1FormatError, match="without 'name'"):
        v1_row({"meta": {}}, "a", "CC-0")
    with pytest.raises(V1FormatError, match="not in isic_metadata"):
        check_hierarchy(("Benign", "Nevus"))
    # no benign_malignant: unlabelled (prepare excludes and counts it), not guessed
    assert v1_row({"name": "ISIC_Y", "meta": {"clinical": {}}}, "a", "CC-0")["diagnosis_1"] == ""


def test_import_v1_command_downscales_drops_exif_and_writes_the_layout(tmp_path):
    src = tmp_path / "v1src"
    src.mkdir()
    ids = sorted(p.stem for p in (SAMPLE / "v1").glob("*.json"))[:3]
    for i, isic_id in enumerate(ids):
        shutil.copy(SAMPLE / "v1" / f"{isic_id}.json", src)
        img = Image.open(SAMPLE / f"{isic_id}.jpg")
        exif = Image.Exif()
        exif[0x0112] = 6 if i == 0 else 1  # the first one is stored rotated
        img.save(src / f"{isic_id}.jpg", exif=exif)
    shutil.copy(SAMPLE / "ATTRIBUTION.txt", src)
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, "-m", "melanoma_exp.commands.main", "data", "import-v1", str(src),
                           "--out", str(out), "--max-side", "300"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "3 images OK" in done.stdout
    frame = pd.read_csv(out / "metadata.csv", dtype=str, keep_default_na=False)
    assert list(frame["isic_id"]) == ids and list(frame.columns[:3]) == ["isic_id", "attribution", "copyright_license"]
    first = Image.open(out / f"{ids[0]}.jpg")
    original = Image.open(SAMPLE / f"{ids[0]}.jpg")
    assert max(first.size) == 300 and first.size[0] < first.size[1] == 300 and original.size[0] > original.size[1]
    assert 0x0112 not in first.getexif()
    (src / "ATTRIBUTION.txt").unlink()
    done = subprocess.run([sys.executable, "-m", "melanoma_exp.commands.main", "data", "import-v1", str(src),
                           "--out", str(tmp_path / "o2")], capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "ATTRIBUTION.txt" in done.stderr


def test_isic_sample_prepares_with_an_ungrouped_stratified_split_that_says_so(tmp_path, project_tmp):
    from melanoma_exp.config import compose
    from melanoma_exp.data.prepare import prepare_dataset, read_manifest
    from melanoma_exp.data.summary import describe_prepared

    cfg = compose([*project_tmp, "data=isic_sample", "data.image_size=32"])
    assert Path(cfg.data.raw_dir) == SAMPLE
    folder = prepare_dataset(cfg.data, progress=False)
    manifest = read_manifest(folder)
    assert manifest["kind"].startswith("real sample")
    assert manifest["grouping"]["grouped"] is False and "could not be grouped" in manifest["grouping"]["note"]
    counts = manifest["counts"]
    shares = [counts[s]["malignant"] / counts[s]["total"] for s in ("train", "val", "test")]
    assert max(shares) - min(shares) < 0.05  # stratified by label
    assert manifest["total"] + manifest["excluded_total"] == len(read_metadata(SAMPLE))
    assert "could not be grouped" in describe_prepared(folder)
