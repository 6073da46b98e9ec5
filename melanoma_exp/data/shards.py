"""The shard record format of a prepared dataset (TFRecord of tf.train.Example).

Each record holds one image decoded and resized once: `image` = raw uint8 bytes of an
(S, S, 3) RGB array in row-major HWC order, `label` = int64 (1 = malignant), `isic_id` = bytes.
Raw pixels (not JPEG) mean an epoch does no image decoding at all: reading a batch is a memcpy.
TensorFlow is imported inside the functions (the CLI and config code stay light).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import numpy as np

RECORD_FORMAT = {
    "image": "bytes: raw uint8 RGB pixels, shape (image_size, image_size, 3), row-major (HWC)",
    "label": "int64: 1 = malignant, 0 = benign",
    "isic_id": "bytes: the image's isic_id",
}


def shard_name(split: str, index: int, count: int) -> str:
    """File name of one shard, relative to the prepared folder."""
    return f"shards/{split}-{index:05d}-of-{count:05d}.tfrecord"


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """sha256 hex digest of a file, read in 1 MiB chunks (bounded memory for any size)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def write_shards(
    folder: Path, split: str, records: Iterable[tuple[str, int, np.ndarray]], total: int, shard_size: int,
    checksums: dict[str, str] | None = None,
) -> list[str]:
    """Write `(isic_id, label, pixels)` records of one split in order; returns shard names.

    With `checksums`, each shard's sha256 is added as `{name: digest}` right after the shard is
    closed (while it is still in the page cache), so hashing costs no extra cold read.
    """
    import tensorflow as tf

    def close(writer, name):
        writer.close()
        if checksums is not None:
            checksums[name] = sha256_file(folder / name)

    count = max(1, -(-total // shard_size))
    names = [shard_name(split, i, count) for i in range(count)]
    (folder / "shards").mkdir(parents=True, exist_ok=True)
    writer, written = None, 0
    for isic_id, label, pixels in records:
        if written % shard_size == 0:
            if writer is not None:
                close(writer, names[written // shard_size - 1])
            writer = tf.io.TFRecordWriter(str(folder / names[written // shard_size]))
        feature = {
            "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[pixels.tobytes()])),
            "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[int(label)])),
            "isic_id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[isic_id.encode()])),
        }
        writer.write(tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString())
        written += 1
    if writer is not None:
        close(writer, names[(written - 1) // shard_size])
    for name in names[max(1, -(-written // shard_size)) :]:  # an empty split still gets one file
        close(tf.io.TFRecordWriter(str(folder / name)), name)
    return names


def parse_batch(serialized, image_size: int):
    """Parse a batch of serialized records -> (uint8 images (B, S, S, 3), int64 labels (B,))."""
    import tensorflow as tf

    spec = {
        "image": tf.io.FixedLenFeature([], tf.string),
        "label": tf.io.FixedLenFeature([], tf.int64),
    }
    parsed = tf.io.parse_example(serialized, spec)
    images = tf.io.decode_raw(parsed["image"], tf.uint8)
    images = tf.reshape(images, [-1, image_size, image_size, 3])
    return images, parsed["label"]
