"""The TensorFlow-free input path: a prepared split's shards as a `keras.utils.PyDataset`.

Used by `pipeline.make_dataset` when Keras runs on a backend other than TensorFlow (`trainer.backend:
jax`), so a machine with JAX and no TensorFlow trains from the same prepared folder. It yields what
the tf.data path yields — `(images (B, S, S, 3), labels float32 (B,))`, images uint8 or float32
0..255, eval splits in index.csv order, labels from each record (checked against index.csv, which
supplies the classes for oversampling) — read with `os.pread` from a record index built once
(`shards.record_offsets`), parsed without protobuf (`shards.parse_record`), by `workers` threads.

Training order: a full permutation of the split per epoch (tf.data shuffles shards and a buffer:
the orders differ between the two paths, the same seed gives the same sequence of orders on each),
or with ``balance="oversample"`` equal draws of both classes. A training epoch leaves out the last
partial batch (under XLA a batch of another shape compiles the whole step again, ~1 min for B3 on a
GPU); each epoch's order is new, so no image is always the one left out. Host augmentation is only the
``capture`` preset (NumPy/Pillow, as on the tf.data path); everything else in `data.augment` runs
inside the training step (`training.augmentation`).
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
import numpy as np

from melanoma_exp.data.capture import capture_numpy
from melanoma_exp.data.shards import parse_record, record_offsets


class ShardSequence(keras.utils.PyDataset):
    """Batches of one split of a prepared folder (see the module docstring)."""

    def __init__(self, files: list[Path], labels: np.ndarray, image_size: int, *, batch_size: int,
                 training: bool, seed: int, balance: str, images_dtype: str, capture: float, workers: int):
        super().__init__(workers=workers, use_multiprocessing=False, max_queue_size=max(2, 2 * workers))
        self.size, self.batch_size, self.training = image_size, batch_size, training
        self.seed, self.balance, self.images_dtype, self.capture = seed, balance, images_dtype, capture
        self._fds = [os.open(path, os.O_RDONLY) for path in files]
        self._records = [(fd, offset, length) for fd, path in zip(self._fds, files, strict=True)
                         for offset, length in record_offsets(path)]
        if len(self._records) != len(labels):
            raise ValueError(f"{Path(files[0]).parent}: the shards hold {len(self._records)} records, "
                             f"index.csv lists {len(labels)} for this split: prepare the dataset again")
        self.labels = np.asarray(labels, dtype=np.int64)
        self._epoch = 0
        self._order = self._epoch_order()

    def _epoch_order(self) -> np.ndarray:
        n = len(self._records)
        if not self.training:
            return np.arange(n)
        rng = np.random.default_rng([self.seed, self._epoch])
        if self.balance != "oversample":
            return rng.permutation(n)
        # equal draws of both classes; within a class, a fresh permutation cycled as often as needed
        draws = rng.random(n) < 0.5
        order = np.empty(n, dtype=np.int64)
        for cls, slots in ((1, draws), (0, ~draws)):
            members = np.flatnonzero(self.labels == cls)
            if len(members) == 0:
                members = np.flatnonzero(self.labels != cls)
            cycles = -(-int(slots.sum()) // len(members)) if slots.any() else 0
            stream = np.concatenate([rng.permutation(members) for _ in range(cycles)] or [members[:0]])
            order[slots] = stream[: int(slots.sum())]
        return order

    def __len__(self) -> int:
        if self.training:  # full batches only: each new batch shape makes XLA compile the step again
            return max(1, len(self._records) // self.batch_size)
        return -(-len(self._records) // self.batch_size)

    def __getitem__(self, index: int):
        if not 0 <= index < len(self):
            raise IndexError(index)
        picks = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        images = np.empty((len(picks), self.size, self.size, 3), dtype=np.uint8)
        labels = np.empty(len(picks), dtype=np.float32)
        for row, pick in enumerate(picks):
            fd, offset, length = self._records[pick]
            record = parse_record(os.pread(fd, length, offset))
            if record["label"] != self.labels[pick]:  # the record is the truth, as on the tf.data path
                raise ValueError(f"{record['isic_id']}: label {record['label']} in its shard record, "
                                 f"{self.labels[pick]} in index.csv: prepare the dataset again")
            images[row] = np.frombuffer(record["image"], dtype=np.uint8).reshape(self.size, self.size, 3)
            labels[row] = record["label"]
        if self.training and self.capture:
            batch_seed = np.array([self.seed, self._epoch, index], dtype=np.int64)
            return capture_numpy(images.astype(np.float32), batch_seed, self.capture), labels
        return images.astype(self.images_dtype, copy=False), labels

    def on_epoch_end(self) -> None:
        """Keras calls this after each epoch (its workers stopped): draw the next epoch's order."""
        self._epoch += 1
        self._order = self._epoch_order()

    def __del__(self):
        for fd in getattr(self, "_fds", []):
            try:
                os.close(fd)
            except OSError:
                pass
