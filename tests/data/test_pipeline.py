"""make_dataset / class_weight / load_split_index over the shared prepared folder."""

from __future__ import annotations

import numpy as np
import pytest

from melanoma_exp.data.pipeline import class_weight, load_split_index, make_dataset

AUGMENT = {"flip": True, "rotate": 0.25, "zoom": 0.1, "contrast": 0.1, "brightness": 0.1}


def _collect(ds):
    batches = [(x.numpy(), y.numpy()) for x, y in ds]
    return np.concatenate([b[0] for b in batches]), np.concatenate([b[1] for b in batches]), batches


def test_training_batches_shapes_dtypes_ranges(prepared_small):
    ds = make_dataset(prepared_small, "train", batch_size=16, training=True, augment=AUGMENT, seed=1)
    images, labels, batches = _collect(ds)
    n_train = len(load_split_index(prepared_small, "train"))
    assert images.shape == (n_train, 32, 32, 3) and images.dtype == np.float32
    assert labels.shape == (n_train,) and labels.dtype == np.float32
    assert set(np.unique(labels)) == {0.0, 1.0}
    assert images.min() >= 0.0 and images.max() <= 255.0 and images.max() > 100  # 0..255, not 0..1
    assert all(b[0].shape[0] == 16 for b in batches[:-1])
    assert int(ds.cardinality()) == len(batches) == -(-n_train // 16)  # Keras knows the epoch length
    # every training image appears once per epoch (labels are a permutation of the split's)
    assert sorted(labels) == sorted(load_split_index(prepared_small, "train")["label"].astype(float))


def test_eval_keeps_index_order_and_exact_pixels(prepared_small):
    import tensorflow as tf

    from melanoma_exp.data.shards import parse_batch

    index = load_split_index(prepared_small, "test")
    images, labels, _ = _collect(make_dataset(prepared_small, "test", batch_size=8, training=False,
                                              augment=AUGMENT))
    assert labels.tolist() == index["label"].astype(float).tolist()
    raw = tf.data.TFRecordDataset([str(prepared_small / "shards" / p.name)
                                   for p in sorted((prepared_small / "shards").glob("test-*"))])
    stored, _ = next(iter(raw.batch(1000).map(lambda s: parse_batch(s, 32))))
    np.testing.assert_array_equal(images, stored.numpy().astype(np.float32))  # eval: no augmentation


def test_uint8_batches_are_the_float32_batches_uncast(prepared_small):
    """The trainer's input (augmentation runs in the model): same images, same order, uint8."""
    as_uint8, labels_u8, _ = _collect(make_dataset(prepared_small, "train", batch_size=16, training=True,
                                                   seed=3, images_dtype="uint8"))
    as_float, labels_f, _ = _collect(make_dataset(prepared_small, "train", batch_size=16, training=True,
                                                  seed=3))
    assert as_uint8.dtype == np.uint8 and as_float.dtype == np.float32
    np.testing.assert_array_equal(as_uint8.astype(np.float32), as_float)
    np.testing.assert_array_equal(labels_u8, labels_f)
    # host augmentation (the capture preset, on the trainer's path) always yields float32
    augmented, _, _ = _collect(make_dataset(prepared_small, "train", batch_size=16, training=True,
                                            augment={"flip": True}, images_dtype="uint8"))
    assert augmented.dtype == np.float32
    with pytest.raises(ValueError, match="images_dtype"):
        make_dataset(prepared_small, "train", batch_size=16, training=True, images_dtype="float16")


def test_same_seed_same_batches_other_seed_differs(prepared_small):
    def run(seed):
        ds = make_dataset(prepared_small, "train", batch_size=16, training=True, augment=AUGMENT, seed=seed)
        return _collect(ds)[:2]

    a, b, c = run(5), run(5), run(6)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])


def test_each_epoch_is_reshuffled(prepared_small):
    ds = make_dataset(prepared_small, "train", batch_size=16, training=True, seed=3)
    first = _collect(ds)[1]
    second = _collect(ds)[1]
    assert sorted(first) == sorted(second) and not np.array_equal(first, second)


def test_augmentation_changes_pixels_but_not_labels(prepared_small):
    plain = _collect(make_dataset(prepared_small, "train", batch_size=16, training=True, seed=2))
    augmented = _collect(make_dataset(prepared_small, "train", batch_size=16, training=True,
                                      augment=AUGMENT, seed=2))
    np.testing.assert_array_equal(plain[1], augmented[1])  # same order: augmentation only
    assert np.abs(plain[0] - augmented[0]).mean() > 5


def test_oversample_balances_the_classes(prepared_small):
    index = load_split_index(prepared_small, "train")
    ds = make_dataset(prepared_small, "train", batch_size=16, training=True, seed=0, balance="oversample")
    _, labels, _ = _collect(ds)
    assert len(labels) == len(index)
    assert abs(labels.mean() - 0.5) < 0.15


def test_class_weight(prepared_small):
    index = load_split_index(prepared_small, "train")
    n, pos = len(index), int(index["label"].sum())
    weights = class_weight(prepared_small, "class_weight")
    assert weights == pytest.approx({0: n / (2 * (n - pos)), 1: n / (2 * pos)})
    # weighted, both classes contribute the same total
    assert weights[0] * (n - pos) == pytest.approx(weights[1] * pos)
    for other in ("none", "undersample", "oversample"):
        assert class_weight(prepared_small, other) is None


def test_split_index_is_dataset_order_with_metadata(prepared_small):
    frames = {s: load_split_index(prepared_small, s) for s in ("train", "val", "test")}
    assert sum(len(f) for f in frames.values()) == 156
    assert {"isic_id", "label", "split", "group", "lesion_id", "patient_id", "diagnosis_1"} <= set(
        frames["val"].columns)
    assert (frames["val"]["split"] == "val").all()


def test_errors_name_the_problem(prepared_small, tmp_path):
    with pytest.raises(ValueError, match="Unknown split 'validation'"):
        make_dataset(prepared_small, "validation", batch_size=4, training=False)
    with pytest.raises(ValueError, match=r"Unknown data.augment key\(s\) \['shear'\]"):
        make_dataset(prepared_small, "train", batch_size=4, training=True, augment={"shear": 0.1})
    with pytest.raises(FileNotFoundError, match="not a prepared dataset"):
        make_dataset(tmp_path, "train", batch_size=4, training=True)


def test_prepared_small_is_learnable(prepared_small):
    """Simple colour/contrast features beat the majority baseline clearly (ABCD signal survives 32 px)."""
    from sklearn.linear_model import LogisticRegression

    def features(split):
        images, labels, _ = _collect(make_dataset(prepared_small, split, batch_size=64, training=False))
        centre = images[:, 8:24, 8:24]
        return np.concatenate([
            centre.mean(axis=(1, 2)), centre.std(axis=(1, 2)),
            (centre[..., 0] - centre[..., 2]).std(axis=(1, 2))[:, None], images.mean(axis=(1, 2)),
        ], axis=1), labels

    x_train, y_train = features("train")
    x_test, y_test = features("test")
    accuracy = (LogisticRegression(max_iter=2000).fit(x_train, y_train).predict(x_test) == y_test).mean()
    majority = max(y_test.mean(), 1 - y_test.mean())
    assert accuracy > majority + 0.15
