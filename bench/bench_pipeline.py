"""Input pipeline throughput: prepared shards vs the thesis' naive decode-every-epoch path.

Side by side in one run, on the same synthetic ISIC-like JPEGs (1024x768 by default), at 224 px,
with the same augmentation (flip, rotate, zoom, contrast, brightness):

(a) prepared: `make_dataset` over the shards written once by `prepare_dataset`;
(b) naive: `keras.utils.image_dataset_from_directory` decoding and resizing every original JPEG
    every epoch, then the same augmentation;
(c) ceiling: reading and parsing the shards only (no shuffle, no augmentation);
(d), (e): (a), (b) without augmentation;
(f) what the trainer runs on the host since augmentation moved into the training step: read, parse,
    shuffle, batch, uint8 out (`make_dataset(..., images_dtype="uint8")`), beside (a), the previous
    host-augmented path;
(g) the same augmentation as the trainer's Keras layers (`training.augmentation`) on batches
    already in memory: work that runs on the accelerator on a GPU box, on these cores here;
(h) = (g) with Keras's stock Random* layers (one resampling per layer) for comparison;
(i) = (f) on the TensorFlow-free reader the JAX backend uses (`make_dataset(..., reader="python")`,
    a `keras.utils.PyDataset`), iterated in this thread.

    python -m bench.bench_pipeline                       # short default run (< 2 min on 2 cores)
    python -m bench.bench_pipeline --n 2000 --epochs 3   # bigger
    python -m bench.bench_pipeline --n 24 --raw-size 64x48 --size 32 --batch 8 --epochs 1  # smallest (smoke)
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

AUGMENT = {"flip": True, "rotate": 0.25, "zoom": 0.1, "contrast": 0.1, "brightness": 0.1}


def _cpu_seconds() -> float:
    """CPU time of this process, all threads (user + system)."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _epoch(dataset) -> tuple[float, float, int]:
    """One full pass over `dataset`: (wall seconds, CPU seconds, images)."""
    wall, cpu, images = time.perf_counter(), _cpu_seconds(), 0
    for batch, _labels in dataset:
        images += int(batch.shape[0])
    return time.perf_counter() - wall, _cpu_seconds() - cpu, images


def _interleaved(pipelines: dict, rounds: int) -> dict[str, tuple[float, float]]:
    """Per pipeline: (median images/s, median CPU ms per image) over `rounds` alternating epochs.

    Alternating (a, b, c, a, b, c, ...) and taking medians keeps a busy machine (other jobs on the
    same cores) from favouring whichever pipeline ran in a quiet moment; CPU ms per image is the
    work done, which other jobs on the machine barely change.
    """
    import statistics

    for dataset in pipelines.values():  # warm-up: graph tracing, thread pools, file cache
        for _ in dataset.take(2):
            pass
    runs: dict[str, list[tuple[float, float, int]]] = {name: [] for name in pipelines}
    for _ in range(rounds):
        for name, dataset in pipelines.items():
            runs[name].append(_epoch(dataset))
    return {
        name: (statistics.median(n / wall for wall, _, n in values),
               statistics.median(1000 * cpu / n for _, cpu, n in values))
        for name, values in runs.items()
    }


def _stock_keras_layers():
    """The same augmentation from Keras's stock layers: one resampling per geometric layer."""
    import keras

    return keras.layers.Pipeline([
        keras.layers.RandomFlip("horizontal_and_vertical", seed=0),
        keras.layers.RandomRotation(AUGMENT["rotate"], fill_mode="reflect", interpolation="nearest", seed=1),
        keras.layers.RandomZoom((-AUGMENT["zoom"], AUGMENT["zoom"]), fill_mode="reflect",
                                interpolation="nearest", seed=2),
        keras.layers.RandomContrast(AUGMENT["contrast"], value_range=(0, 255), seed=3),
        keras.layers.RandomBrightness(AUGMENT["brightness"], value_range=(0, 255), seed=4),
    ])


def _in_model_augmentation(prepared: Path, batch: int, rounds: int, stock: bool = False) -> tuple[float, float]:
    """(median images/s, median CPU ms per image) of the trainer's augmentation layers alone (or,
    with `stock`, Keras's stock layers doing the same), compiled as in a training step, over every
    split's batches held in memory."""
    import statistics

    import tensorflow as tf

    from melanoma_exp.data.augment import augment_settings
    from melanoma_exp.data.pipeline import make_dataset
    from melanoma_exp.training.augmentation import augmentation_layer

    layer = _stock_keras_layers() if stock else augmentation_layer(augment_settings(AUGMENT), seed=0)
    step = tf.function(lambda x: layer(tf.cast(x, tf.float32), training=True))
    batches = [x for split in ("train", "val", "test") for x, _ in
               make_dataset(prepared, split, batch_size=batch, training=False, images_dtype="uint8")]
    step(batches[0]).numpy()  # trace
    runs = []
    for _ in range(rounds):
        wall, cpu = time.perf_counter(), _cpu_seconds()
        for images in batches:
            out = step(images)
        out.numpy()
        n = sum(int(b.shape[0]) for b in batches)
        runs.append((n / (time.perf_counter() - wall), 1000 * (_cpu_seconds() - cpu) / n))
    return statistics.median(r for r, _ in runs), statistics.median(c for _, c in runs)


def _python_reader(prepared: Path, batch: int, rounds: int) -> tuple[float, float]:
    """(f) on the TensorFlow-free reader: (median images/s, median CPU ms per image), every split."""
    import statistics

    from melanoma_exp.data.pipeline import make_dataset

    readers = [make_dataset(prepared, split, batch_size=batch, training=True, images_dtype="uint8", reader="python")
               for split in ("train", "val", "test")]
    runs = []
    for _ in range(rounds):
        wall, cpu, images = time.perf_counter(), _cpu_seconds(), 0
        for reader in readers:
            for index in range(len(reader)):
                images += len(reader[index][1])
            reader.on_epoch_end()
        runs.append((images / (time.perf_counter() - wall), 1000 * (_cpu_seconds() - cpu) / images))
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def _class_folders(raw_dir: Path, root: Path) -> Path:
    """The class-per-folder layout image_dataset_from_directory wants, as symlinks to the originals."""
    import pandas as pd

    meta = pd.read_csv(raw_dir / "metadata.csv", dtype=str, keep_default_na=False)
    for isic_id, diagnosis in zip(meta["isic_id"], meta["diagnosis_1"], strict=True):
        if diagnosis in ("Benign", "Malignant"):
            link = root / diagnosis.lower() / f"{isic_id}.jpg"
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.is_symlink():
                link.symlink_to(raw_dir / f"{isic_id}.jpg")
    return root


def _naive(folder: Path, size: int, batch: int, seed: int, augment: bool = True):
    """The thesis path: decode + resize originals every epoch, then the same augmentation."""
    import keras
    import tensorflow as tf

    from melanoma_exp.data.augment import augment_batch, augment_settings

    ds = keras.utils.image_dataset_from_directory(
        folder, labels="inferred", label_mode="binary", image_size=(size, size), batch_size=batch,
        shuffle=True, seed=seed, verbose=False,
    )
    if not augment:
        return ds.prefetch(tf.data.AUTOTUNE)
    settings = augment_settings(AUGMENT)
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    ds = tf.data.Dataset.zip(ds, seeds).map(
        lambda b, s: (augment_batch(b[0], s, settings), b[1]), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def _ceiling(prepared: Path, batch: int):
    """Shard read + parse + cast only: the prepared pipeline's own upper bound."""
    import tensorflow as tf

    from melanoma_exp.data.prepare import read_manifest
    from melanoma_exp.data.shards import parse_batch

    manifest = read_manifest(prepared)
    files = [str(prepared / name) for split in manifest["shards"] for name in manifest["shards"][split]]
    size = manifest["image_size"]
    ds = tf.data.TFRecordDataset(files, num_parallel_reads=tf.data.AUTOTUNE).batch(batch)
    ds = ds.map(lambda s: parse_batch(s, size), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.map(lambda x, y: (tf.cast(x, tf.float32), y)).prefetch(tf.data.AUTOTUNE)


def smoke_args(workdir: Path) -> list[str]:
    """The smallest run (tests/bench/test_bench_smoke.py): every pipeline, one epoch of a few tiny images."""
    return ["--n", "24", "--raw-size", "64x48", "--size", "32", "--batch", "8", "--epochs", "1",
            "--workdir", str(workdir)]


def main(argv: list[str] | None = None) -> str:
    """Run the benchmark, print the numbers, return a Markdown section."""
    parser = argparse.ArgumentParser(prog="python -m bench.bench_pipeline", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=240, help="synthetic images (default 240)")
    parser.add_argument("--raw-size", default="1024x768", help="original JPEG size (default 1024x768)")
    parser.add_argument("--size", type=int, default=224, help="model input side (default 224)")
    parser.add_argument("--batch", type=int, default=32, help="batch size (default 32)")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per pipeline (default 3)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep data here (default: temp)")
    args = parser.parse_args(argv)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from melanoma_exp.config import group_config
    from melanoma_exp.data.pipeline import make_dataset
    from melanoma_exp.data.prepare import prepare_dataset
    from melanoma_exp.data.synth import generate_synthetic

    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        work = args.workdir or Path(tmp)
        raw = work / "raw"
        t0 = time.perf_counter()
        if not (raw / "metadata.csv").is_file():
            generate_synthetic(raw, n=args.n, size=args.raw_size, seed=0, progress=True)
        t1 = time.perf_counter()
        cfg = group_config("data", [
            "data.source=bench", f"data.raw_dir={raw}", f"data.prepared_root={work / 'prepared'}",
            f"data.image_size={args.size}", "data.balance=none", "data.seed=0", "data.shard_size=256",
            "data.chunk_size=null", "data.workers=null", "data.split.val=0.16", "data.split.test=0.20",
            "data.split.group_by=lesion_id",
        ])
        prepared = prepare_dataset(cfg, progress=True)
        t2 = time.perf_counter()
        def prepared_all(augment, images_dtype="float32"):
            # Every split, so (a) and (b) see the same images: the train split alone is 64 %.
            ds = make_dataset(prepared, "train", batch_size=args.batch, training=True, augment=augment,
                              images_dtype=images_dtype)
            for split in ("val", "test"):
                ds = ds.concatenate(make_dataset(prepared, split, batch_size=args.batch, training=True,
                                                 augment=augment, images_dtype=images_dtype))
            return ds

        naive_dir = _class_folders(raw, work / "by_class")
        n_images = sum(1 for _ in naive_dir.glob("*/*.jpg"))
        rates = _interleaved({
            "prepared": prepared_all(AUGMENT),
            "naive": _naive(naive_dir, args.size, args.batch, 0),
            "ceiling": _ceiling(prepared, args.batch),
            "prepared_plain": prepared_all(None),
            "naive_plain": _naive(naive_dir, args.size, args.batch, 0, augment=False),
            "host_uint8": prepared_all(None, images_dtype="uint8"),
        }, args.epochs)
        rates["python_reader"] = _python_reader(prepared, args.batch, args.epochs)
        rates["in_model"] = _in_model_augmentation(prepared, args.batch, args.epochs)
        rates["in_model_stock"] = _in_model_augmentation(prepared, args.batch, args.epochs, stock=True)

    cores = os.cpu_count()
    labels = {
        "prepared": "(a) prepared shards + augmentation",
        "naive": f"(b) naive: decode {args.raw_size} JPEGs every epoch + augmentation",
        "ceiling": "(c) shard read + parse only (ceiling)",
        "prepared_plain": "(d) = (a) without augmentation",
        "naive_plain": "(e) = (b) without augmentation",
        "host_uint8": "(f) the trainer's host path: augmentation moved into the training step; read, parse, shuffle, "
                      "batch uint8",
        "in_model": "(g) that augmentation as Keras layers, on batches in memory (accelerator work; "
                    "these CPU cores here)",
        "in_model_stock": "(h) = (g) with Keras's stock RandomFlip/Rotation/Zoom/Contrast/Brightness",
        "python_reader": "(i) = (f) on the TensorFlow-free reader (trainer.backend=jax)",
    }
    wall_ratio = rates["prepared"][0] / rates["naive"][0]
    cpu_ratio = rates["naive"][1] / rates["prepared"][1]
    print(f"\n{args.size} px, batch {args.batch}, {n_images} images, median of {args.epochs} alternating "
          f"epochs, {cores} CPU cores")
    for name, label in labels.items():
        rate, cpu_ms = rates[name]
        print(f"  {label:<62} {rate:>8.0f} images/s  {cpu_ms:>6.2f} CPU ms/image")
    print(f"  speed-up prepared / naive: {wall_ratio:.1f}x images/s, {cpu_ratio:.1f}x less CPU per image, "
          f"on {cores} cores (target >= 10x)")
    plain_ratio = rates["prepared_plain"][0] / rates["naive_plain"][0]
    print(f"  without augmentation (the data path alone): {plain_ratio:.1f}x images/s, "
          f"{rates['naive_plain'][1] / rates['prepared_plain'][1]:.1f}x less CPU per image")
    print(f"  one-off cost: synthesise {t1 - t0:.1f} s, prepare {t2 - t1:.1f} s ({n_images} images)")
    host_before, host_after = rates["prepared"][1], rates["host_uint8"][1]
    print(f"  host CPU per image with augmentation on: {host_before:.2f} ms on the host (a) -> "
          f"{host_after:.2f} ms (f) with augmentation in the training step (target <= 0.5)")
    table = "\n".join(f"| {label} | {rates[name][0]:,.0f} | {rates[name][1]:.2f} |"
                      for name, label in labels.items())
    return (
        f"## Input pipeline (bench_pipeline)\n\n"
        f"{args.size} px, batch {args.batch}, {n_images} synthetic {args.raw_size} JPEGs, median of "
        f"{args.epochs} alternating epochs, {cores} CPU cores, augmentation {AUGMENT}.\n\n"
        f"| pipeline | images/s | CPU ms / image |\n|---|---:|---:|\n{table}\n\n"
        f"**Prepared vs naive: {wall_ratio:.1f}x images/s, {cpu_ratio:.1f}x less CPU per image** on "
        f"{cores} cores; without augmentation {plain_ratio:.1f}x images/s. "
        f"One-off prepare: {t2 - t1:.1f} s.\n\n"
        f"**Augmentation in the training step: host CPU {host_before:.2f} -> {host_after:.2f} ms per "
        f"image** ((a) -> (f); target <= 0.5). The augmentation itself (g) costs "
        f"{rates['in_model'][1]:.2f} CPU ms per image when these CPU cores run the training step "
        f"(Keras's stock layers (h): {rates['in_model_stock'][1]:.2f}); on a GPU box it runs on the GPU, "
        f"beside the model. The TensorFlow-free reader of the JAX backend (i) costs "
        f"{rates['python_reader'][1]:.2f} CPU ms per image on the host.\n"
    )


if __name__ == "__main__":
    main()
