"""GPU training throughput of EfficientNetV2-B3 at 224 px: fp32 vs mixed precision vs mixed + XLA.

Not part of `make bench` (no bench_ prefix): run it where a GPU is lent.

    python -m bench.gpu_benchmark                         # batch 32, 30 timed steps per mode
    python -m bench.gpu_benchmark --batch 64 --steps 50 --model efficientnetv2b3 --size 224
    python -m bench.gpu_benchmark --frozen                # head only (phase 0 of the thesis schedule)

Reference: the thesis trained B3 at 224 px on an RTX 4090 at ~107 img/s (~2 min per epoch).
Images are random tensors already on the device, so this measures the model, not the input pipeline
(bench_pipeline measures that). Weights: ImageNet when cached in ~/.keras/models, else random (the
speed is the same).
"""

from __future__ import annotations

import argparse
import os
import time

MODES = (("fp32", False, False), ("mixed", True, False), ("mixed+xla", True, True))


def _model(name: str, size: int, frozen: bool):
    from omegaconf import OmegaConf

    from melanoma_exp.models.build import WeightsUnavailableError, build_model

    head = OmegaConf.create({"units": 1024, "activation": "relu", "batch_norm": False, "dropout1": 0.0,
                             "second_dense": False, "units2": 256, "dropout2": 0.3, "regularizer": None,
                             "regularization": 0.0})
    try:
        model = build_model(OmegaConf.create({"name": name, "weights": "imagenet"}), head, size)
    except WeightsUnavailableError:
        model = build_model(OmegaConf.create({"name": name, "weights": None}), head, size)
    model.get_layer("backbone").trainable = not frozen
    return model


def measure(name: str, size: int, batch: int, steps: int, mixed: bool, xla: bool, frozen: bool) -> float:
    """Training images/s after warm-up for one precision/XLA setting."""
    import keras
    import tensorflow as tf

    keras.backend.clear_session()
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")
    model = _model(name, size, frozen)
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="binary_crossentropy", jit_compile=xla)
    images = tf.random.uniform((batch, size, size, 3), 0, 255)
    labels = tf.cast(tf.random.uniform((batch,)) > 0.5, tf.float32)
    data = tf.data.Dataset.from_tensors((images, labels)).repeat()
    model.fit(data, steps_per_epoch=5, epochs=1, verbose=0)  # graph build / XLA compile
    start = time.perf_counter()
    model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
    return steps * batch / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu_benchmark", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="efficientnetv2b3")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--frozen", action="store_true", help="train the head only")
    parser.add_argument("--modes", default=",".join(m for m, _, _ in MODES), help="fp32,mixed,mixed+xla")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    device = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU") if gpus else "CPU only"
    wanted = args.modes.split(",")
    rows = []
    for mode, mixed, xla in MODES:
        if mode in wanted:
            rate = measure(args.model, args.size, args.batch, args.steps, mixed, xla, args.frozen)
            rows.append(f"| {mode} | {rate:.1f} |")
            print(f"{mode}: {rate:.1f} img/s", flush=True)
    part = "head only" if args.frozen else "whole network"
    section = "\n".join([
        f"## GPU training throughput ({args.model}, {args.size} px, batch {args.batch}, {part})",
        "", f"Device: {device}. Thesis reference: RTX 4090 ~107 img/s for B3 at 224 px.", "",
        "| mode | img/s |", "|---|---|", *rows, "",
    ])
    print(section)
    return section


if __name__ == "__main__":
    main()
