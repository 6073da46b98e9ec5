"""Prepared datasets for one cross-validation fold, written next to the base prepared folder.

A fold's folder is the base prepared folder (contract 2) with the train and val rows re-assigned:
validation = the fold's groups, train = the other folds; the held-out test split is untouched, so
every fold is scored on the same test images. The folder has the base folder's *name* under a
fold-specific root, so the trainer's `prepare_dataset(cfg.data)` with
``data.prepared_root=<fold root>`` finds it already prepared and opens it like any other.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from melanoma_exp.data.shards import sha256_file, write_shards


def fold_split_column(index: pd.DataFrame, fold_ids: pd.Series, fold: int) -> pd.Series:
    """New ``split`` values: test stays test; pool rows in ``fold`` -> val, the rest -> train."""
    split = index["split"].copy()
    pool = split != "test"
    split[pool] = np.where(fold_ids.reindex(index.index)[pool].to_numpy() == fold, "val", "train")
    return split


def _pixels(base: Path, index: pd.DataFrame, store: np.ndarray) -> None:
    """Decoded images of every split of the base folder into ``store`` (rows in index order)."""
    from melanoma_exp.data.pipeline import load_split_index, make_dataset
    from melanoma_exp.data.split import SPLITS

    row_of = {isic_id: i for i, isic_id in enumerate(index["isic_id"])}
    for split in SPLITS:
        ids = list(load_split_index(base, split)["isic_id"])
        offset = 0
        for images, _ in make_dataset(base, split, batch_size=256, training=False):
            for image in np.asarray(images):
                # the pipeline casts stored uint8 to float32 exactly; cast back without loss
                store[row_of[ids[offset]]] = image.astype(np.uint8)
                offset += 1


def write_fold_dataset(base: Path, split: pd.Series, out: Path, cv_info: dict) -> Path:
    """Write the fold's prepared folder at ``out`` (no-op when it exists). Returns ``out``."""
    from melanoma_exp.data.prepare import INDEX, MANIFEST, read_manifest
    from melanoma_exp.data.split import SPLITS

    if (out / MANIFEST).is_file():
        return out
    manifest = read_manifest(base)
    index = pd.read_csv(base / INDEX, dtype=str, keep_default_na=False)
    index["split"] = split.to_numpy()
    labels = index["label"].astype(int).to_numpy()
    size = int(manifest["image_size"])
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".staging-{out.name}-", dir=out.parent))
    try:
        store = np.lib.format.open_memmap(staging / "pixels.npy", mode="w+", dtype=np.uint8,
                                          shape=(len(index), size, size, 3))
        _pixels(base, index, store)
        shards, counts, prepared = {}, {}, {}
        for name in SPLITS:
            rows = np.flatnonzero(index["split"].to_numpy() == name)
            records = ((index["isic_id"].iat[i], int(labels[i]), store[i]) for i in rows)
            shards[name] = write_shards(staging, name, records, len(rows), int(manifest.get("shard_size", 1024)),
                                        checksums=prepared)
            counts[name] = {"benign": int((labels[rows] == 0).sum()), "malignant": int((labels[rows] == 1).sum()),
                            "total": int(len(rows))}
        del store
        (staging / "pixels.npy").unlink()
        index.to_csv(staging / INDEX, index=False)
        prepared[INDEX] = sha256_file(staging / INDEX)
        # the raw checksums are the base folder's (same raw files); the prepared ones are this fold's own
        checksums = {**manifest.get("checksums", {"algorithm": "sha256"}), "prepared": prepared}
        manifest.update({"shards": shards, "counts": counts, "cv": {**cv_info, "base": str(base)},
                         "checksums": checksums})
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf8")
        try:
            staging.rename(out)
        except OSError:
            if not (out / MANIFEST).is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out
