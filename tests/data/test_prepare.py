"""prepare_dataset: cleaning with reasons, grouped stratified splits, balancing, idempotence, errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from melanoma_exp.data.imageops import load_resized
from melanoma_exp.data.layout import RawDataError, find_image
from melanoma_exp.data.prepare import prepare_dataset, read_manifest
from melanoma_exp.data.split import SplitError


def _manifest(folder):
    return json.loads((folder / "manifest.json").read_text())


def _index(folder):
    return pd.read_csv(folder / "index.csv", dtype=str, keep_default_na=False)


@pytest.fixture
def dirty_raw(synthetic_raw, tmp_path):
    """A copy of the shared raw folder with one row of every kind prepare must exclude."""
    raw = shutil.copytree(synthetic_raw, tmp_path / "raw", ignore=shutil.ignore_patterns("masks"))
    meta = pd.read_csv(raw / "metadata.csv", dtype=str, keep_default_na=False)
    labelled = meta[meta["diagnosis_1"].isin(["Benign", "Malignant"])]["isic_id"].tolist()
    bad = dict(zip(["missing", "empty", "corrupt", "dup_src", "dup", "nolabel"], labelled[:6], strict=True))
    (raw / f"{bad['missing']}.jpg").unlink()
    (raw / f"{bad['empty']}.jpg").write_bytes(b"")
    (raw / f"{bad['corrupt']}.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    shutil.copyfile(raw / f"{bad['dup_src']}.jpg", raw / f"{bad['dup']}.jpg")
    meta.loc[meta["isic_id"] == bad["nolabel"], "diagnosis_1"] = ""
    meta.to_csv(raw / "metadata.csv", index=False)
    indeterminate = meta.loc[meta["diagnosis_1"] == "Indeterminate", "isic_id"].tolist()
    return raw, bad, indeterminate


def test_excludes_and_counts_each_kind_of_bad_row(data_cfg, dirty_raw, tmp_path):
    raw, bad, indeterminate = dirty_raw
    folder = prepare_dataset(data_cfg(raw, tmp_path / "prepared"), progress=False)
    excluded = _manifest(folder)["excluded"]
    assert excluded["missing_file"]["ids"] == [bad["missing"]]
    assert excluded["empty_file"]["ids"] == [bad["empty"]]
    assert excluded["undecodable_file"]["ids"] == [bad["corrupt"]]
    # of two identical files the first row in metadata order stays
    first, second = sorted([bad["dup_src"], bad["dup"]])
    assert excluded["duplicate_file"]["ids"] == [second]
    assert excluded["missing_label"]["ids"] == [bad["nolabel"]]
    assert excluded["indeterminate_label"]["ids"] == indeterminate
    assert excluded["indeterminate_label"]["count"] == len(indeterminate) > 0
    index = _index(folder)
    dropped = {bad["missing"], bad["empty"], bad["corrupt"], second, bad["nolabel"], *indeterminate}
    assert not dropped & set(index["isic_id"])
    assert first in set(index["isic_id"])
    assert len(index) + len(dropped) == 160
    assert _manifest(folder)["excluded_total"] == len(dropped)


def test_no_group_crosses_splits_and_fractions_hold(prepared_small):
    index = _index(prepared_small)
    assert list(index.columns[:4]) == ["isic_id", "label", "split", "group"]
    for key in ("group", "lesion_id", "patient_id"):
        assert (index.groupby(key)["split"].nunique() == 1).all(), f"a {key} is in two splits"
    share = index["split"].value_counts(normalize=True)
    assert abs(share["train"] - 0.64) < 0.05
    assert abs(share["val"] - 0.16) < 0.04
    assert abs(share["test"] - 0.20) < 0.04
    overall = (index["label"] == "1").mean()
    for split, rows in index.groupby("split"):
        assert abs((rows["label"] == "1").mean() - overall) < 0.06, f"{split} is not stratified"
    counts = _manifest(prepared_small)["counts"]
    assert sum(c["total"] for c in counts.values()) == len(index)


def test_per_image_grouping_leaks_patients(data_cfg, synthetic_raw, tmp_path):
    """group_by=isic_id is the thesis' random split: patients end up in several splits."""
    cfg = data_cfg(synthetic_raw, tmp_path, **{"split.group_by": "isic_id"})
    index = _index(prepare_dataset(cfg, progress=False))
    assert (index.groupby("patient_id")["split"].nunique() > 1).any()


def test_undersample_reaches_the_configured_ratio(data_cfg, synthetic_raw, tmp_path):
    cfg = data_cfg(synthetic_raw, tmp_path, balance="undersample", benign_fraction=0.54)
    folder = prepare_dataset(cfg, progress=False)
    index = _index(folder)
    benign_share = (index["label"] == "0").mean()
    assert abs(benign_share - 0.54) < 0.02
    manifest = _manifest(folder)
    assert manifest["balance"]["undersample"] is True
    assert manifest["excluded"]["undersampled_benign"]["count"] > 0
    # malignant images are never dropped
    meta = pd.read_csv(synthetic_raw / "metadata.csv", dtype=str)
    assert (index["label"] == "1").sum() == (meta["diagnosis_1"] == "Malignant").sum()


def test_shards_hold_the_decoded_resized_originals(prepared_small, synthetic_raw):
    import tensorflow as tf

    from melanoma_exp.data.shards import parse_batch

    manifest = read_manifest(prepared_small)
    assert manifest["image_size"] == 32 and manifest["dtype"] == "uint8"
    assert "centre-crop" in manifest["resize"]
    files = [str(prepared_small / n) for n in manifest["shards"]["val"]]
    images, labels = next(iter(tf.data.TFRecordDataset(files).batch(1000).map(lambda s: parse_batch(s, 32))))
    val = _index(prepared_small).query("split == 'val'")
    assert images.shape == (len(val), 32, 32, 3)
    assert labels.numpy().tolist() == val["label"].astype(int).tolist()
    first = load_resized(find_image(synthetic_raw, val["isic_id"].iloc[0]), 32)
    np.testing.assert_array_equal(images[0].numpy(), first)


def test_second_run_is_a_no_op_and_changes_make_a_new_folder(data_cfg, synthetic_raw, tmp_path):
    raw = shutil.copytree(synthetic_raw, tmp_path / "raw")
    cfg = data_cfg(raw, tmp_path / "prepared")
    first = prepare_dataset(cfg, progress=False)
    stamp = (first / "manifest.json").stat().st_mtime_ns
    assert prepare_dataset(cfg, progress=False) == first
    assert (first / "manifest.json").stat().st_mtime_ns == stamp
    # class_weight / oversample are training-time: same prepared folder
    assert prepare_dataset(data_cfg(raw, tmp_path / "prepared", balance="class_weight"),
                           progress=False) == first
    # a changed setting -> a new folder
    bigger = prepare_dataset(data_cfg(raw, tmp_path / "prepared", image_size=24), progress=False)
    assert bigger != first and read_manifest(bigger)["image_size"] == 24
    # changed inputs -> a new folder
    victim = sorted(raw.glob("ISIC_*.jpg"))[0]
    victim.write_bytes(b"")
    changed = prepare_dataset(cfg, progress=False)
    assert changed not in (first, bigger)
    assert read_manifest(changed)["excluded"]["empty_file"]["ids"] == [victim.stem]
    assert len([p for p in (tmp_path / "prepared").iterdir()]) == 3  # no staging left behind


def test_error_no_metadata(data_cfg, tmp_path):
    (tmp_path / "raw").mkdir()
    with pytest.raises(RawDataError, match=r"no metadata\.csv in .*raw"):
        prepare_dataset(data_cfg(tmp_path / "raw", tmp_path / "p"), progress=False)
    with pytest.raises(RawDataError, match="does not exist.*melanoma data download"):
        prepare_dataset(data_cfg(tmp_path / "nowhere", tmp_path / "p"), progress=False)


def test_error_no_diagnosis_column(data_cfg, synthetic_raw, tmp_path):
    raw = shutil.copytree(synthetic_raw, tmp_path / "raw")
    meta = pd.read_csv(raw / "metadata.csv", dtype=str)
    meta.drop(columns="diagnosis_1").to_csv(raw / "metadata.csv", index=False)
    with pytest.raises(RawDataError, match=r"metadata\.csv has no column 'diagnosis_1'"):
        prepare_dataset(data_cfg(raw, tmp_path / "p"), progress=False)


def test_error_zero_images_of_a_class(data_cfg, synthetic_raw, tmp_path):
    raw = shutil.copytree(synthetic_raw, tmp_path / "raw")
    meta = pd.read_csv(raw / "metadata.csv", dtype=str, keep_default_na=False)
    for isic_id in meta.loc[meta["diagnosis_1"] == "Malignant", "isic_id"]:
        (raw / f"{isic_id}.jpg").unlink()
    with pytest.raises(RawDataError, match="zero malignant images.*missing_file="):
        prepare_dataset(data_cfg(raw, tmp_path / "p"), progress=False)


@pytest.mark.parametrize("overrides, error, message", [
    ({"split.val": 0.5, "split.test": 0.5}, SplitError, r"val \+ data.split.test = 1.00"),
    ({"split.test": 0.0}, SplitError, "data.split.test must be between 0 and 1"),
    ({"split.val": 1.2}, SplitError, "data.split.val must be between 0 and 1"),
    ({"split.group_by": "hospital"}, SplitError, "Unknown data.split.group_by 'hospital'"),
    ({"balance": "smote"}, ValueError, "Unknown data.balance 'smote'"),
])
def test_settings_errors_name_the_key(data_cfg, synthetic_raw, tmp_path, overrides, error, message):
    with pytest.raises(error, match=message):
        prepare_dataset(data_cfg(synthetic_raw, tmp_path, **overrides), progress=False)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".staging")]


def test_error_too_little_data_for_the_splits(data_cfg, tmp_path):
    from melanoma_exp.data.synth import generate_synthetic

    raw = generate_synthetic(tmp_path / "tiny", n=6, size=16, seed=1, malignant_fraction=0.5)
    with pytest.raises(SplitError, match=r"split '(train|val|test)' got no (benign|malignant) images"):
        prepare_dataset(data_cfg(raw, tmp_path / "p"), progress=False)
