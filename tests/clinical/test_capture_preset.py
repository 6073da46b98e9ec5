"""The capture-condition preset inside the real data pipeline (`+data.augment.capture=P`)."""

import numpy as np

from melanoma_exp.evaluation.model_checks import images_from_dataset


def batches(prepared, augment, seed=0):
    from melanoma_exp.data.pipeline import make_dataset

    ds = make_dataset(prepared, "train", batch_size=16, training=True, augment=augment, seed=seed)
    return images_from_dataset(ds, limit=32)[0]


def test_capture_preset_degrades_training_batches_reproducibly(prepared_small):
    plain = batches(prepared_small, None)
    a = batches(prepared_small, {"capture": 0.9})
    b = batches(prepared_small, {"capture": 0.9})
    assert a.shape == plain.shape and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)  # same seed, same degraded batches
    changed = np.abs(a - plain).mean(axis=(1, 2, 3)) > 0.5
    assert 0.6 <= changed.mean() <= 1.0  # ~90% of images get one degradation
    assert a.min() >= 0 and a.max() <= 255
