"""The config-driven trainer. `train(cfg) -> float` is the entry `run.py` calls.

Importing this package is cheap (no TensorFlow): TF is imported inside `train` after the config
has been validated.
"""

from melanoma_exp.training.trainer import train

__all__ = ["train"]
