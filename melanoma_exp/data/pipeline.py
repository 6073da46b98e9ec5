"""The input pipeline over a prepared dataset's shards (contract 2 -> model input): tf.data on the
TensorFlow backend, `py_dataset.ShardSequence` (no TensorFlow) on the others.

Output: `(images, labels)` with images float32 RGB in **0..255**, shape (B, S, S, 3), and labels
float32 (B,), 1 = malignant; with `images_dtype="uint8"` the images stay uint8 (the trainer's path:
the model casts them on its device, and augmentation runs inside the training step, see
`melanoma_exp.training.augmentation`). The pipeline never normalises: each backbone's preprocessing is a layer
inside the model (EfficientNetV2 takes 0..255 as is; ResNetV2/DenseNet get their `preprocess_input`
as a layer), so training, export, serving and the app all feed plain 0..255 RGB.

Training datasets: shard order and records shuffled with `seed` (a new order each epoch, the same
sequence of orders on every run), batched, parsed in parallel, augmented per batch with stateless
ops, prefetched. Keras iterates the finite dataset once per epoch. `balance="oversample"` draws
benign and malignant equally often (epoch length unchanged). Eval datasets keep index.csv order.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from melanoma_exp.data.augment import augment_batch, augment_settings
from melanoma_exp.data.prepare import INDEX, read_manifest
from melanoma_exp.data.shards import parse_batch
from melanoma_exp.data.split import SPLITS

SHUFFLE_BUFFER = 4096


def keras_backend() -> str:
    """The backend Keras runs on in this process (importing Keras fixes it: `KERAS_BACKEND`)."""
    import keras

    return keras.backend.backend()


def _py_dataset(prepared_dir, split, files, size, settings, *, batch_size, training, seed, balance,
                images_dtype, workers):
    """`make_dataset` without TensorFlow: only the ``capture`` preset can augment on the host here."""
    from melanoma_exp.data.py_dataset import ShardSequence

    on_host = {k: v for k, v in settings.items() if v and k != "capture"}
    if training and on_host:
        raise ValueError(f"data.augment {sorted(on_host)} on the host needs TensorFlow (tf.data); without it "
                         "they run inside the training step (training.augmentation)")
    labels = load_split_index(prepared_dir, split)["label"].to_numpy()
    return ShardSequence([Path(f) for f in files], labels, size, batch_size=batch_size, training=training,
                         seed=seed, balance=balance if training else "none", images_dtype=images_dtype,
                         capture=float(settings.get("capture") or 0.0) if training else 0.0,
                         workers=int(workers or os.cpu_count() or 1))


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"Unknown split {split!r}. Known: {', '.join(SPLITS)}")


def load_split_index(prepared_dir, split: str) -> pd.DataFrame:
    """Rows of index.csv for `split`, in the order an eval dataset yields them."""
    _check_split(split)
    frame = pd.read_csv(Path(prepared_dir) / INDEX, dtype=str, keep_default_na=False)
    frame["label"] = frame["label"].astype(int)
    return frame[frame["split"] == split].reset_index(drop=True)


def class_weight(prepared_dir, balance: str) -> dict[int, float] | None:
    """Keras `class_weight` for `balance="class_weight"` (inverse train frequency), else None.

    Weights are n / (2 * n_class), so a balanced set gets 1.0 for both classes.
    """
    if balance != "class_weight":
        return None
    counts = read_manifest(prepared_dir)["counts"]["train"]
    total = counts["benign"] + counts["malignant"]
    return {0: total / (2 * counts["benign"]), 1: total / (2 * counts["malignant"])}


def _records(files: list[str], training: bool, seed: int):
    """Serialized records of the split's shards (shuffled shards when training)."""
    import tensorflow as tf

    if not training:
        return tf.data.TFRecordDataset(files)
    shard_ds = tf.data.Dataset.from_tensor_slices(files)
    shard_ds = shard_ds.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    return shard_ds.interleave(
        tf.data.TFRecordDataset, cycle_length=min(4, len(files)), block_length=16,
        num_parallel_calls=tf.data.AUTOTUNE, deterministic=True,
    )


def _oversampled(records, n_examples: int, seed: int):
    """Equal draws of both classes, `n_examples` records per epoch."""
    import tensorflow as tf

    def label_of(serialized):
        spec = {"label": tf.io.FixedLenFeature([], tf.int64)}
        return tf.io.parse_single_example(serialized, spec)["label"]

    per_class = [
        records.filter(lambda r, c=c: tf.equal(label_of(r), c))
        .shuffle(SHUFFLE_BUFFER, seed=seed + c, reshuffle_each_iteration=True)
        .repeat()
        for c in (0, 1)
    ]
    mixed = tf.data.Dataset.sample_from_datasets(per_class, weights=[0.5, 0.5], seed=seed)
    return mixed.take(n_examples)


def make_dataset(
    prepared_dir, split: str, *, batch_size: int, training: bool, augment=None, seed: int = 0,
    balance: str = "none", images_dtype: str = "float32", workers: int | None = None, reader: str | None = None,
):
    """Batches of `(images float32 (B,S,S,3) 0..255, labels float32 (B,))` for Keras.

    A `tf.data.Dataset` when Keras runs on TensorFlow; on any other backend (`trainer.backend: jax`)
    a TensorFlow-free `py_dataset.ShardSequence` over the same shards (same batches for eval splits,
    another shuffle order for training).

    Args:
        prepared_dir: a folder written by `prepare_dataset`.
        split: "train", "val" or "test".
        batch_size: images per batch (the last batch may be smaller).
        training: shuffle + augment (+ oversample); False keeps index.csv order, no augmentation.
        augment: the `data.augment` mapping (None or empty = no augmentation).
        seed: shuffling and augmentation seed; the same seed gives the same batches.
        balance: `data.balance`; only "oversample" changes the dataset (class weights are
            returned by `class_weight`, undersampling happened in prepare).
        images_dtype: "float32" (default) or "uint8": without host augmentation the batches stay
            uint8, 4x fewer bytes to copy to the device and no cast on the host. Augmented
            batches (host augmentation) are always float32.
        workers: reading threads of the TensorFlow-free path (`data.workers`; None = one per core).
        reader: "tf.data" or "python" (the TensorFlow-free `ShardSequence`); None = the one for the
            backend Keras runs on.
    """
    _check_split(split)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if images_dtype not in ("float32", "uint8"):
        raise ValueError(f"images_dtype must be 'float32' or 'uint8', got {images_dtype!r}")
    manifest = read_manifest(prepared_dir)
    size = int(manifest["image_size"])
    files = [str(Path(prepared_dir) / name) for name in manifest["shards"][split]]
    n_examples = int(manifest["counts"][split]["total"])
    settings = augment_settings(augment) if training else augment_settings(None)
    if reader not in (None, "tf.data", "python"):
        raise ValueError(f"reader must be 'tf.data' or 'python', got {reader!r}")
    if reader == "python" or (reader is None and keras_backend() != "tensorflow"):
        return _py_dataset(prepared_dir, split, files, size, settings, batch_size=batch_size, training=training,
                           seed=seed, balance=balance, images_dtype=images_dtype, workers=workers)
    import tensorflow as tf

    ds = _records(files, training, seed)
    if training and balance == "oversample":
        ds = _oversampled(ds, n_examples, seed)
    elif training:
        ds = ds.shuffle(min(SHUFFLE_BUFFER, max(1, n_examples)), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)

    augmenting = training and any(settings.values())

    def to_model_input(serialized, batch_seed=None):
        images, labels = parse_batch(serialized, size)
        # Augmentation starts on uint8 (less memory traffic) and returns float32.
        if augmenting:
            images = augment_batch(images, batch_seed, settings)
        elif images_dtype == "float32":
            images = tf.cast(images, tf.float32)
        return images, tf.cast(labels, tf.float32)

    if augmenting:
        # One fresh random seed per batch per epoch, from a seeded stream: reproducible, not repeated.
        batch_seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        ds = tf.data.Dataset.zip(ds, batch_seeds)
    ds = ds.map(to_model_input, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    # Interleave/filter hide the length; Keras needs it to know where an epoch ends.
    ds = ds.apply(tf.data.experimental.assert_cardinality(-(-n_examples // batch_size)))
    options = tf.data.Options()
    options.deterministic = True
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)
