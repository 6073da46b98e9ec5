"""The shard format without TensorFlow: prepare's writer gives the bytes TensorFlow's writer gives,
and the JAX backend's reader (`py_dataset.ShardSequence`) yields what tf.data yields."""

from __future__ import annotations

import numpy as np
import pytest

from melanoma_exp.data.pipeline import load_split_index, make_dataset
from melanoma_exp.data.shards import parse_record, record_offsets, write_shards


def _tensorflow_shard(path, records):
    import tensorflow as tf

    with tf.io.TFRecordWriter(str(path)) as writer:
        for isic_id, label, pixels in records:
            feature = {
                "image": tf.train.Feature(bytes_list=tf.train.BytesList(value=[pixels.tobytes()])),
                "label": tf.train.Feature(int64_list=tf.train.Int64List(value=[label])),
                "isic_id": tf.train.Feature(bytes_list=tf.train.BytesList(value=[isic_id.encode()])),
            }
            example = tf.train.Example(features=tf.train.Features(feature=feature))
            writer.write(example.SerializeToString(deterministic=True))


def test_written_shards_are_byte_identical_to_tensorflows_and_parse_back(tmp_path):
    rng = np.random.default_rng(0)
    records = [(f"ISIC_{i:07d}", i % 2, rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)) for i in range(20)]
    records.append(("ISIC_large", 300, rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)))  # multi-byte varints
    (name,) = write_shards(tmp_path, "train", records, len(records), shard_size=100)
    _tensorflow_shard(tmp_path / "tf.tfrecord", records)
    assert (tmp_path / name).read_bytes() == (tmp_path / "tf.tfrecord").read_bytes()
    data = (tmp_path / name).read_bytes()
    parsed = [parse_record(data[offset:offset + length]) for offset, length in record_offsets(tmp_path / name)]
    assert [(r["isic_id"], r["label"]) for r in parsed] == [(i, label) for i, label, _ in records]
    np.testing.assert_array_equal(np.frombuffer(parsed[-1]["image"], np.uint8).reshape(224, 224, 3), records[-1][2])


def test_a_cut_shard_is_named(tmp_path):
    records = [("ISIC_0000001", 1, np.zeros((8, 8, 3), np.uint8))] * 3
    (name,) = write_shards(tmp_path, "val", records, 3, shard_size=10)
    path = tmp_path / name
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(ValueError, match=r"val-00000-of-00001.tfrecord: the record at byte \d+ needs"):
        record_offsets(path)


def _python_reader(prepared, split, *, training, batch_size=16, **options):
    """The reader make_dataset picks on a non-TensorFlow backend (this process runs TensorFlow)."""
    return make_dataset(prepared, split, batch_size=batch_size, training=training, reader="python", workers=2,
                        **options)


def _collect(ds):
    pairs = [(np.asarray(x), np.asarray(y)) for x, y in ds]
    return np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs])


def test_eval_batches_equal_the_tf_data_batches(prepared_small):
    for split in ("val", "test"):
        ours = _collect(_python_reader(prepared_small, split, training=False))
        theirs = _collect(make_dataset(prepared_small, split, batch_size=16, training=False))
        assert ours[0].dtype == theirs[0].dtype == np.float32
        np.testing.assert_array_equal(ours[0], theirs[0])
        np.testing.assert_array_equal(ours[1], theirs[1])


def test_training_order_is_a_seeded_permutation_reshuffled_each_epoch(prepared_small):
    labels = load_split_index(prepared_small, "train")["label"].to_numpy()
    reader = _python_reader(prepared_small, "train", training=True, seed=4, images_dtype="uint8")
    first = _collect(reader)
    full = len(labels) // 16 * 16  # full batches only (one step shape for XLA)
    assert first[0].dtype == np.uint8 and len(first[1]) == full and len(reader) == full // 16 < -(-len(labels) // 16)
    order = reader._order  # the epoch's permutation of the whole split; its first `full` were served
    assert sorted(order) == list(range(len(labels)))
    np.testing.assert_array_equal(first[1], labels[order[:full]].astype(np.float32))
    reader.on_epoch_end()
    second = _collect(reader)
    assert not np.array_equal(first[0], second[0])
    again = _collect(_python_reader(prepared_small, "train", training=True, seed=4, images_dtype="uint8"))
    np.testing.assert_array_equal(first[0], again[0])
    other_seed = _collect(_python_reader(prepared_small, "train", training=True, seed=5, images_dtype="uint8"))
    assert not np.array_equal(first[0], other_seed[0])


def test_oversample_and_capture_on_the_python_reader(prepared_small):
    _, labels = _collect(_python_reader(prepared_small, "train", training=True, balance="oversample"))
    assert len(labels) == len(load_split_index(prepared_small, "train")) // 16 * 16 and abs(labels.mean() - 0.5) < 0.15
    plain = _collect(_python_reader(prepared_small, "train", training=True, seed=2))
    captured = _collect(_python_reader(prepared_small, "train", training=True, seed=2, augment={"capture": 0.9}))
    np.testing.assert_array_equal(plain[1], captured[1])
    assert captured[0].dtype == np.float32 and np.abs(plain[0] - captured[0]).mean() > 1
    with pytest.raises(ValueError, match=r"data.augment \['flip'\] on the host needs TensorFlow"):
        _python_reader(prepared_small, "train", training=True, augment={"flip": True})
    with pytest.raises(ValueError, match="reader must be 'tf.data' or 'python'"):
        make_dataset(prepared_small, "train", batch_size=16, training=True, reader="grain")


def test_a_label_that_disagrees_with_its_record_is_named(prepared_small, tmp_path):
    import shutil

    copy = tmp_path / "prepared"
    shutil.copytree(prepared_small, copy)
    index = (copy / "index.csv").read_text().splitlines()
    header = index[0].split(",")
    row = next(i for i, line in enumerate(index) if i and line.split(",")[header.index("split")] == "val")
    fields = index[row].split(",")
    fields[header.index("label")] = str(1 - int(fields[header.index("label")]))
    index[row] = ",".join(fields)
    (copy / "index.csv").write_text("\n".join(index) + "\n")
    with pytest.raises(ValueError, match=fr"{fields[header.index('isic_id')]}: label \d in its shard record"):
        _collect(_python_reader(copy, "val", training=False))
