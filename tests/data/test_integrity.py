"""Checksums in manifest.json and `melanoma data validate` on a prepared folder (issue 14 item 4)."""

from __future__ import annotations

import hashlib
import json
import shutil

import pandas as pd
import pytest

from melanoma_exp.commands.main import main
from melanoma_exp.data.layout import find_image
from melanoma_exp.data.prepare import prepare_dataset, read_manifest, validate_prepared


@pytest.fixture
def prepared_copy(synthetic_raw, data_cfg, tmp_path):
    """An own raw copy and its prepared folder (the shared ones are read-only)."""
    raw = shutil.copytree(synthetic_raw, tmp_path / "raw", ignore=shutil.ignore_patterns("masks"))
    cfg = data_cfg(raw, tmp_path / "prepared")
    return raw, cfg, prepare_dataset(cfg, progress=False)


def _sha(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_manifest_records_sha256_of_raw_images_metadata_index_and_shards(prepared_copy):
    raw, _, folder = prepared_copy
    manifest = read_manifest(folder)
    sums = manifest["checksums"]
    assert sums["algorithm"] == "sha256"
    assert sums["metadata"] == {"metadata.csv": _sha(raw / "metadata.csv")}
    # every raw image prepare read (labelled rows), kept or not, by isic_id
    index_ids = set(pd.read_csv(folder / "index.csv", dtype=str)["isic_id"])
    assert index_ids <= set(sums["raw"])
    for isic_id, digest in sums["raw"].items():
        assert digest == _sha(find_image(raw, isic_id))
    shards = [name for names in manifest["shards"].values() for name in names]
    assert set(sums["prepared"]) == {"index.csv", *shards}
    for name, digest in sums["prepared"].items():
        assert digest == _sha(folder / name)
    # contract-2 fields are still there
    for key in ("source", "counts", "excluded", "seed", "image_size", "balance", "split", "fingerprint",
                "shards", "total"):
        assert key in manifest


def test_unchanged_folder_validates_clean(prepared_copy, capsys):
    raw, _, folder = prepared_copy
    report = validate_prepared(folder)
    assert report.bad == 0 and report.problems == []
    assert report.checked["metadata"] == 1 and report.checked["raw"] >= 150
    assert report.checked["prepared"] == len(read_manifest(folder)["checksums"]["prepared"])
    assert main(["data", "validate", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "0 changed, 0 missing" in out and "unchanged since prepare" in out


def test_changed_raw_byte_and_deleted_shard_are_named(prepared_copy, capsys):
    raw, _, folder = prepared_copy
    manifest = read_manifest(folder)
    isic_id = sorted(manifest["checksums"]["raw"])[3]
    image = find_image(raw, isic_id)
    data = bytearray(image.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte flipped, same size
    image.write_bytes(bytes(data))
    shard = manifest["shards"]["train"][0]
    (folder / shard).unlink()

    report = validate_prepared(folder)
    assert sorted(report.problems) == sorted([
        ("changed", "raw", isic_id, str(image)),
        ("missing", "prepared", shard, str(folder / shard)),
    ])
    assert main(["data", "validate", str(folder)]) == 1
    captured = capsys.readouterr()
    assert isic_id in captured.out and str(image) in captured.out
    assert shard in captured.out
    assert "2 of" in captured.out and "changed or missing since prepare" in captured.out
    assert f"delete {folder}" in captured.err and "melanoma data prepare" in captured.err


def test_missing_raw_image_and_changed_index_are_named(prepared_copy):
    raw, _, folder = prepared_copy
    isic_id = sorted(read_manifest(folder)["checksums"]["raw"])[0]
    find_image(raw, isic_id).unlink()
    with open(folder / "index.csv", "a", encoding="utf8") as handle:
        handle.write("\n")
    problems = {(status, kind, name) for status, kind, name, _ in validate_prepared(folder).problems}
    assert problems == {("missing", "raw", isic_id), ("changed", "prepared", "index.csv")}


def test_moved_raw_folder_with_raw_dir_option(prepared_copy, tmp_path, capsys):
    raw, _, folder = prepared_copy
    moved = raw.rename(tmp_path / "moved")
    assert main(["data", "validate", str(folder)]) == 1  # everything raw is missing
    assert "missing" in capsys.readouterr().out
    assert main(["data", "validate", str(folder), "--raw-dir", str(moved)]) == 0
    assert validate_prepared(folder, raw_dir=moved).bad == 0


def test_old_manifest_without_checksums_and_raw_dir_on_a_raw_folder(prepared_copy, capsys):
    raw, _, folder = prepared_copy
    manifest = read_manifest(folder)
    del manifest["checksums"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert main(["data", "validate", str(folder)]) == 2
    assert "has no checksums" in capsys.readouterr().err
    assert main(["data", "validate", str(raw), "--raw-dir", str(raw)]) == 2
    assert "--raw-dir is for a prepared folder" in capsys.readouterr().err


def test_re_prepare_is_still_a_no_op(prepared_copy):
    _, cfg, folder = prepared_copy
    stamp = (folder / "manifest.json").stat().st_mtime_ns
    before = read_manifest(folder)["checksums"]
    assert prepare_dataset(cfg, progress=False) == folder
    assert (folder / "manifest.json").stat().st_mtime_ns == stamp
    assert read_manifest(folder)["checksums"] == before
    assert len(list(folder.parent.iterdir())) == 1
