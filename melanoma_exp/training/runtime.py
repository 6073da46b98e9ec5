"""Process-level settings of a training run: run folder, seeds, precision, XLA, distribution."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

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


def _gpus() -> list:
    import tensorflow as tf

    return tf.config.list_physical_devices("GPU")


def configure_runtime(trainer_cfg: Any) -> dict:
    """Seed everything, choose precision and XLA. Imports TensorFlow.

    Returns:
        ``{"gpus": int, "mixed_precision": bool, "jit_compile": bool | "auto"}`` as applied.
    """
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(int(trainer_cfg.seed))  # python, numpy and TF generators
    if trainer_cfg.deterministic:
        tf.config.experimental.enable_op_determinism()
    gpus = _gpus()
    mixed = trainer_cfg.mixed_precision
    mixed = bool(gpus) if mixed == "auto" else bool(mixed)
    # float16 compute on GPUs with tensor cores; on CPU it only slows things down
    keras.mixed_precision.set_global_policy("mixed_float16" if mixed else "float32")
    jit = trainer_cfg.jit_compile
    info = {"gpus": len(gpus), "mixed_precision": mixed, "jit_compile": jit}
    log.info("runtime: %s", info)
    return info


def make_strategy(distribute: str):
    """`mirrored` -> MirroredStrategy over all local GPUs; `none` -> the default strategy."""
    import tensorflow as tf

    if distribute == "mirrored":
        strategy = tf.distribute.MirroredStrategy()
        log.info("MirroredStrategy over %d replicas", strategy.num_replicas_in_sync)
        return strategy
    return tf.distribute.get_strategy()
