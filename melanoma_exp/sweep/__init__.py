"""Optuna sweeps for melanoma-exp.

The Hydra sweeper plugin (`hydra_plugins/melanoma_optuna_sweeper`) drives a study; the pieces it and
the trainer share live here: opening the study from the `sweep:` config node (`study`), the handle a
training job uses to report per-epoch values and ask whether to prune (`trial`), the search-space
parser (`space`), and the MLflow parent run, plots and best-trial experiment file (`report`).
Nothing here imports TensorFlow; Optuna and MLflow are imported lazily.
"""
