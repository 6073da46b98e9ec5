"""The config-driven trainer: `fit` trains one model through its unfreeze schedule, resumably.

Importing this package is cheap (no TensorFlow): TF is imported inside `fit`. The whole job
(tracking, evaluation, registration) is `melanoma_exp.commands.train.train`.
"""

from melanoma_exp.training.trainer import PrunedBySweep, fit, load_data

__all__ = ["PrunedBySweep", "fit", "load_data"]
