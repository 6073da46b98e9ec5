"""Process-level settings of a training run: Keras backend, run folder, seeds, precision, XLA, distribution."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

from melanoma_exp.console import native_stderr_filtered

log = logging.getLogger(__name__)


def resolve_run_dir(cfg: Any) -> Path:
    """The run folder: `trainer.run_dir`, else Hydra's run dir, else `outputs/runs/<time>_<model>`.

    Under `@hydra.main` Hydra's own folder is used, so config, logs and checkpoints sit together;
    `compose()` callers (tests, notebooks) set `trainer.run_dir` or get a fresh timestamped folder.
    """
    if cfg.trainer.run_dir:
        return Path(str(cfg.trainer.run_dir)).expanduser().resolve()
    try:
        from hydra.core.hydra_config import HydraConfig

        return Path(HydraConfig.get().runtime.output_dir).resolve()
    except (ValueError, ImportError):
        stamp = time.strftime("%Y-%m-%d/%H-%M-%S")
        return Path(str(cfg.paths.output_dir)).resolve() / "runs" / f"{stamp}_{cfg.model.name}"


def select_backend(backend: str) -> str:
    """Make Keras run on ``backend`` in this process (`trainer.backend`): sets ``KERAS_BACKEND``
    before Keras is first imported. Call it before anything imports Keras (run.py does).

    Raises:
        RuntimeError: Keras was already imported on another backend in this process, or the
            backend's package is not installed; the message says what to do.
    """
    import importlib.util
    import os
    import sys

    if "keras" in sys.modules:
        current = sys.modules["keras"].backend.backend()
        if current != backend:
            raise RuntimeError(f"trainer.backend={backend} but Keras was already imported on {current!r} in this "
                               f"process: start it with KERAS_BACKEND={backend}, or run it through run.py")
        return backend
    if importlib.util.find_spec(backend) is None:
        extra = "the pinned jax and jaxlib of requirements.lock (pip install -e '.[jax]')" \
            if backend == "jax" else "tensorflow (pip install -e .)"
        raise RuntimeError(f"trainer.backend={backend} needs {extra}; it is not installed in {sys.prefix}")
    os.environ["KERAS_BACKEND"] = backend
    return backend


def _gpus(backend: str) -> list:
    if backend == "jax":
        import jax

        return [d for d in jax.devices() if d.platform == "gpu"]
    import tensorflow as tf

    return tf.config.list_physical_devices("GPU")


def start_backend() -> str:
    """Import Keras and its backend and look for GPUs, with TensorFlow's start-up notices filtered
    (`melanoma_exp.console`); returns one line saying which device trains."""
    import os

    with native_stderr_filtered():
        import keras

        backend = keras.backend.backend()
        gpus = _gpus(backend)
    if not gpus:
        return f"[device] Keras on {backend}: training on CPU ({os.cpu_count()} cores; no GPU visible to {backend})"
    return f"[device] Keras on {backend}: training on GPU ({len(gpus)}: {', '.join(_gpu_names(backend, gpus))})"


def _gpu_names(backend: str, gpus: list) -> list[str]:
    if backend == "jax":
        return [str(getattr(d, "device_kind", d)) for d in gpus]
    import tensorflow as tf

    return [tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus]


def configure_runtime(trainer_cfg: Any) -> dict:
    """Seed everything, choose precision and XLA on the backend Keras runs on.

    Returns:
        ``{"backend", "gpus": int, "mixed_precision": bool, "jit_compile": bool | "auto"}`` as applied.
    """
    import os

    import keras

    backend = keras.backend.backend()
    keras.utils.set_random_seed(int(trainer_cfg.seed))  # python, numpy and the backend's generators
    if trainer_cfg.deterministic and backend == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
    elif trainer_cfg.deterministic:  # XLA reads it when the GPU backend starts (no computation ran yet)
        flag = "--xla_gpu_deterministic_ops=true"
        if flag not in os.environ.get("XLA_FLAGS", ""):
            os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flag}".strip()
    gpus = _gpus(backend)
    mixed = trainer_cfg.mixed_precision
    mixed = bool(gpus) if mixed == "auto" else bool(mixed)
    # float16 compute on GPUs with tensor cores; on CPU it only slows things down
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")
    jit = trainer_cfg.jit_compile
    info = {"backend": backend, "gpus": len(gpus), "mixed_precision": mixed, "jit_compile": jit}
    log.info("runtime: %s", info)
    return info


class _NoScope:
    """A strategy stand-in whose ``scope()`` does nothing (Keras distribution is set globally)."""

    num_replicas_in_sync = 1

    @staticmethod
    def scope():
        import contextlib

        return contextlib.nullcontext()


def make_strategy(distribute: str):
    """`mirrored` -> data parallel over all local GPUs (TensorFlow: MirroredStrategy; JAX: Keras
    `DataParallel`); `none` -> the default. The returned object's ``scope()`` wraps model building."""
    import keras

    if keras.backend.backend() != "tensorflow":
        if distribute == "mirrored":
            devices = keras.distribution.list_devices()
            keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
            log.info("keras DataParallel over %d devices", len(devices))
        return _NoScope()
    import tensorflow as tf

    if distribute == "mirrored":
        strategy = tf.distribute.MirroredStrategy()
        log.info("MirroredStrategy over %d replicas", strategy.num_replicas_in_sync)
        return strategy
    return tf.distribute.get_strategy()
