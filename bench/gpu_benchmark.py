"""GPU training throughput of EfficientNetV2-B3 at 224 px: fp32 vs mixed precision vs XLA.

Not part of `make bench` (no bench_ prefix): run it where a GPU is lent, then commit the section it
writes (`--out bench/GPU.md`); `make bench` copies that file into BENCHMARKS.md as it stands, with
the device and date it was measured on.

    python -m bench.gpu_benchmark                         # batch 64, 30 timed steps per mode
    python -m bench.gpu_benchmark --batch 256 --steps 50 --model efficientnetv2b3 --size 224
    python -m bench.gpu_benchmark --frozen                # head only (phase 0 of the thesis schedule)
    KERAS_BACKEND=jax python -m bench.gpu_benchmark       # the same model on Keras's JAX backend
    python -m bench.gpu_benchmark --model efficientnetv2b0 --size 32 --batch 2 --steps 1 --modes fp32  # CPU smoke

Modes. TensorFlow backend (what `run.py` trains with): `fp32`, `mixed` (mixed_float16), `mixed+xla`
(mixed_float16 + `jit_compile=True`). JAX backend (always compiled by XLA): `fp32`, `mixed`
(mixed_float16), `bf16` (mixed_bfloat16). The model is the project's own `build_model` (backbone,
normalisation layer, the thesis B3 head); Keras 3 builds it identically on every backend.

Reference: the thesis trained B3 at 224 px on an RTX 4090 at ~107 img/s (~2 min per epoch).
The batch is one fixed host array fed through `model.fit` every step (host-to-device copy included,
no decoding or augmentation: bench_pipeline measures those). Weights: random unless `--weights`
(the speed is the same). The model and head configs are composed from conf/ (Hydra: on a bare JAX box
`bash bench/gpu_trainer.sh` installs hydra-core from bench/wheels first).
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from datetime import UTC, datetime
from pathlib import Path

POLICIES = {"fp32": "float32", "mixed": "mixed_float16", "mixed+xla": "mixed_float16", "bf16": "mixed_bfloat16"}
MODES = {"tensorflow": ("fp32", "mixed", "mixed+xla"), "jax": ("fp32", "mixed", "bf16"),
         "torch": ("fp32", "mixed", "bf16")}


# The thesis B3 head, over the composed head group (a key the schema gains is composed in, not missed).
HEAD = ["head.units=1024", "head.activation=relu", "head.batch_norm=false", "head.dropout1=0.0",
        "head.second_dense=false", "head.units2=256", "head.dropout2=0.3", "head.regularizer=null",
        "head.regularization=0.0"]


def model_config(name: str, weights: str | None):
    """(model, head) config nodes from the project's composed config."""
    from melanoma_exp.config import compose

    cfg = compose([f"model={name}", f"model.weights={'null' if weights is None else weights}", *HEAD])
    return cfg.model, cfg.head


def _model(name: str, size: int, frozen: bool, weights: str | None):
    from melanoma_exp.models.build import build_model

    model = build_model(*model_config(name, weights), size)
    model.get_layer("backbone").trainable = not frozen
    return model


def measure(name: str, size: int, batch: int, steps: int, mode: str, frozen: bool, weights: str | None = None) -> dict:
    """Training images/s after warm-up (graph build / XLA compile) for one mode."""
    import keras
    import numpy as np

    keras.backend.clear_session()
    keras.mixed_precision.set_global_policy(POLICIES[mode])
    model = _model(name, size, frozen, weights)
    jit = True if keras.backend.backend() == "jax" else (mode == "mixed+xla")
    model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="binary_crossentropy", jit_compile=jit)
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 255, (batch, size, size, 3)).astype("float32")
    y = (rng.random(batch) > 0.5).astype("float32")

    class Repeat(keras.utils.PyDataset):
        def __init__(self, n):
            super().__init__()
            self.n = n

        def __len__(self):
            return self.n

        def __getitem__(self, index):
            return x, y

    start = time.perf_counter()
    model.fit(Repeat(5), epochs=1, verbose=0)  # trace + compile + 5 steps
    warmup = time.perf_counter() - start
    start = time.perf_counter()
    history = model.fit(Repeat(steps), epochs=1, verbose=0)
    took = time.perf_counter() - start
    loss = float(history.history["loss"][-1])
    return {"mode": mode, "img_s": steps * batch / took, "warmup_s": warmup, "loss_finite": bool(np.isfinite(loss))}


def _device_name() -> str:
    import keras

    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            return tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU") if gpus else "CPU only"
        if backend == "jax":
            import jax

            dev = jax.devices()[0]
            return f"{dev.device_kind} ({dev.platform})"
        if backend == "torch":
            import torch

            return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "CPU only"
    except Exception as exc:  # noqa: BLE001 - the name is informative only
        return f"unknown ({exc})"
    return "unknown"


def _versions() -> str:
    import importlib.metadata as md

    import keras

    backend = keras.backend.backend()
    parts = [f"Keras {keras.__version__}", f"backend {backend}"]
    for pkg in {"tensorflow": ("tensorflow",), "jax": ("jax", "jaxlib"), "torch": ("torch",)}.get(backend, ()):
        try:
            parts.append(f"{pkg} {md.version(pkg)}")
        except md.PackageNotFoundError:
            pass
    return ", ".join(parts) + f", Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu_benchmark", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="efficientnetv2b3")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, action="append", help="batch size (repeatable; default 64)")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--frozen", action="store_true", help="train the head only")
    parser.add_argument("--weights", default=None, help="model.weights: imagenet (needs the cached file) or a "
                        "path; default random, which trains at the same speed")
    parser.add_argument("--modes", default="", help="comma list (default: all modes of the backend)")
    parser.add_argument("--epoch-images", type=int, default=12_800,
                        help="images per epoch for the minutes column (default: the thesis's ~107 img/s x 2 min)")
    parser.add_argument("--out", type=Path, help="also write the markdown section to this file")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras

    backend = keras.backend.backend()
    known = MODES.get(backend, ("fp32",))
    wanted = args.modes.split(",") if args.modes else list(known)
    bad = sorted(set(wanted) - set(known))
    if bad:
        parser.error(f"--modes {bad} not available on the {backend} backend; choose from {', '.join(known)}")
    device = _device_name()
    part = "head only (base frozen)" if args.frozen else "whole network"
    header = [
        f"## GPU training throughput ({args.model}, {args.size} px, {part})", "",
        f"Measured by `python -m bench.gpu_benchmark` on {datetime.now(UTC):%Y-%m-%d} UTC. Device: {device}; "
        f"{_versions()}. {args.steps} timed steps per row after a 5-step warm-up; random input batch "
        "copied from the host each step (no decoding/augmentation). Thesis reference: RTX 4090 "
        "~107 img/s for B3 at 224 px (~2 min per epoch).", "",
        f"| batch | mode | img/s | min per {args.epoch_images}-image epoch | warm-up s | loss finite |",
        "|---|---|---|---|---|---|",
    ]
    rows: list[str] = []
    for batch in args.batch or [64]:
        for mode in wanted:
            r = measure(args.model, args.size, batch, args.steps, mode, args.frozen, args.weights)
            epoch_min = args.epoch_images / r["img_s"] / 60
            rows.append(f"| {batch} | {mode} | {r['img_s']:.0f} | {epoch_min:.2f} | {r['warmup_s']:.0f} |"
                        f" {'yes' if r['loss_finite'] else 'NO'} |")
            print(f"batch {batch} {mode}: {r['img_s']:.1f} img/s (warm-up {r['warmup_s']:.0f} s)", flush=True)
            section = "\n".join([*header, *rows, ""])
            if args.out:  # after every row, so a run stopped part-way keeps what it measured
                args.out.write_text(section, encoding="utf8")
    print(section)
    return section


if __name__ == "__main__":
    main()
