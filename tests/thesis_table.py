"""The thesis's numbers that a recipe or a sweep uses, in one place (restated from the thesis text as
in /work/shared/THESIS-FACTS.md). Every thesis recipe (experiments/thesis_*.yaml), every study
(conf/sweep/thesis_*.yaml) and the `+thesis=as_published` switch is checked against these values by
tests/test_thesis_recipes.py and tests/sweep/test_thesis_studies.py, so none can drift silently.

Only what the thesis states is here, as config keys. Where it states nothing (seeds, search ranges,
augmentation settings, hidden units before run 3, epochs of the final models) the recipes and studies
make the project's choice and say so in their comments; those choices are not thesis values and are
not listed. Each value is typed once: a table that repeats another is derived from it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

# §3.1, the data as the thesis prepared it: the whole archive under-sampled until benign was 54.1 %,
# split 64/16/20, 224 x 224 images.
DATA = {"data.image_size": 224, "data.balance": "undersample", "data.split.val": 0.16, "data.split.test": 0.20}
BENIGN_SHARE_AFTER_BALANCING = 0.541

# `+thesis=as_published`: what the thesis describes and this project changes by default. It mentions
# no grouping by lesion or patient (here: a split per image, `group_by: isic_id`), describes no
# augmentation for training, and reports verdicts at 0.5 (argmax) with no operating point.
AUGMENT_KEYS = ("flip", "rotate", "zoom", "contrast", "brightness")
AS_PUBLISHED = {
    **DATA,
    "data.benign_fraction": BENIGN_SHARE_AFTER_BALANCING,
    "data.split.group_by": "isic_id",
    **{f"data.augment.{key}": 0 for key in AUGMENT_KEYS},
    "trainer.threshold": 0.5,
    "eval.enabled": False,
}

# Every thesis model starts from ImageNet weights (Table 4.1), watches validation accuracy (§3.2).
PRETRAINED = {"model.weights": "imagenet", "trainer.monitor": "val/accuracy"}

# Tables 4.1 / 4.2, the first model: frozen base, GAP -> Dense(1, sigmoid), Adam 0.001, batch 64,
# 50 epochs (the run that degraded after ~15 epochs: early stopping came later). Table 4.1 lists ReLU
# although the head has no hidden layer to use it.
TABLE_4_1 = {
    "model.name": "efficientnetv2b3", "unfreeze.fraction": 0.0, "head.units": None, "head.second_dense": False,
    "head.batch_norm": False, "head.activation": "relu", "optimizer": "adam", "optimizer.learning_rate": 0.001,
    "data.batch_size": 64, "trainer.epochs": 50, "trainer.early_stopping.enabled": False,
}

# Table 4.4, run 1's best (best val accuracy 0.849548995), then §4.2's follow-up: one extra dense
# layer and ReLU instead of tanh, kept because validation accuracy rose slightly.
TABLE_4_4 = {
    "head.activation": "tanh", "data.batch_size": 256, "head.batch_norm": True,
    "optimizer.learning_rate": 0.000715576, "optimizer": "adam", "head.dropout1": 0.223860214,
}
RUN1_FOLLOW_UP = {"head.activation": "relu", "head.second_dense": True}

# Table 4.5, run 2's best (best val accuracy 0.8608). It reports a second dropout for a model without
# a second dense layer.
TABLE_4_5 = {
    "data.batch_size": 64, "head.batch_norm": True, "optimizer.learning_rate": 0.001424, "optimizer": "adam",
    "head.second_dense": False, "head.dropout1": 0.34, "head.dropout2": 0.13, "head.regularizer": None,
}

# Table 4.9, the final settings of the three models (none names an optimizer or an activation), and
# §4.3: trained with the whole base unfrozen after 10 epochs, learning rate / 10 when unfreezing (§3.2),
# ReduceLROnPlateau with patience 3 in that final fine-tuning (§4.2.1). "Units 2: 0" where there is no
# second dense layer.
TABLE_4_9 = {
    "efficientnetv2b3": {"data.batch_size": 256, "head.batch_norm": False, "optimizer.learning_rate": 0.001,
                         "head.units": 1024, "head.second_dense": False, "head.units2": 0,
                         "head.dropout1": 0.0, "head.dropout2": 0.3, "head.regularizer": None},
    "resnet152v2": {"data.batch_size": 512, "head.batch_norm": False, "optimizer.learning_rate": 0.001,
                    "head.units": 1024, "head.second_dense": True, "head.units2": 256,
                    "head.dropout1": 0.3, "head.dropout2": 0.1, "head.regularizer": None},
    "densenet201": {"data.batch_size": 32, "head.batch_norm": True, "optimizer.learning_rate": 0.001,
                    "head.units": 512, "head.second_dense": False, "head.units2": 0,
                    "head.dropout1": 0.0, "head.dropout2": 0.0, "head.regularizer": None},
}
FINAL_TRAINING = {"unfreeze.after_epoch": 10, "unfreeze.fraction": 1.0, "unfreeze.lr_factor": 0.1,
                  "trainer.reduce_lr.enabled": True, "trainer.reduce_lr.patience": 3}
# Table 4.6 (run 3's best, val accuracy 0.864) is Table 4.9's EfficientNetV2B3 column; Table 4.7
# (ResNet152V2's study) its ResNet152V2 column; Table 4.8 (DenseNet201's study) its DenseNet201
# column with batch 128 (Table 4.9 says 32).
TABLE_4_6 = TABLE_4_9["efficientnetv2b3"]
TABLE_4_7 = TABLE_4_9["resnet152v2"]
TABLE_4_8 = {**TABLE_4_9["densenet201"], "data.batch_size": 128}
# The best run (86.73 % validation accuracy): Table 4.6's model with the top 50 % of the base
# unfrozen after 15 epochs (where §4.3 says the whole base after 10).
BEST_RUN_UNFREEZE = {"unfreeze.after_epoch": 15, "unfreeze.fraction": 0.5}


@dataclass(frozen=True)
class Study:
    """One Optuna study as the thesis reports it; None where it states nothing."""

    table: str
    model: str
    trials: int
    epochs: int | None
    pruner: dict | None  # sweep.* keys of the pruning rule
    searched: tuple[str, ...]  # config keys (names only: the thesis publishes no ranges)
    winner: dict
    planned_trials: int | None = None


RUN1_SEARCHED = ("head.activation", "data.batch_size", "head.batch_norm", "optimizer.learning_rate", "optimizer",
                 "head.dropout1")
RUN2_SEARCHED = (*RUN1_SEARCHED, "head.second_dense", "head.dropout2", "head.regularizer")
RUN3_SEARCHED = (*RUN2_SEARCHED, "head.units", "head.units2")
# Run 3: a trial whose val accuracy has not exceeded 0.80 by its 5th epoch is pruned (the trainer
# reports 0-based epoch indices: the 5th epoch is index 4).
RUN3_PRUNER = {"sweep.pruner.name": "threshold", "sweep.pruner.lower": 0.80, "sweep.pruner.warmup_epochs": 5 - 1}

STUDIES = {
    "thesis_run1": Study("Table 4.4", "efficientnetv2b3", 50, 5, None, RUN1_SEARCHED, TABLE_4_4),
    # 50 trials planned, stopped after 38 for lack of GPU time
    "thesis_run2": Study("Table 4.5", "efficientnetv2b3", 38, 12, None, RUN2_SEARCHED, TABLE_4_5,
                         planned_trials=50),
    "thesis_run3": Study("Table 4.6", "efficientnetv2b3", 30, 12, RUN3_PRUNER, RUN3_SEARCHED, TABLE_4_6),
    "thesis_resnet152v2": Study("Table 4.7", "resnet152v2", 25, 12, None, RUN3_SEARCHED, TABLE_4_7),
    "thesis_densenet201": Study("Table 4.8", "densenet201", 25, None, None, RUN3_SEARCHED, TABLE_4_8),
}


def _model(name: str) -> dict:
    return {"model.name": name, **PRETRAINED, **DATA}


# experiments/NAME.yaml -> (the tables it reproduces, every thesis value its composed config must hold).
# Run 1's and run 2's best train as a trial of their study did (its epochs); the follow-up as run 1's.
RECIPES = {
    "thesis_first_model": ("Tables 4.1, 4.2", {**_model("efficientnetv2b3"), **TABLE_4_1}),
    "thesis_run1": ("Table 4.4", {**_model("efficientnetv2b3"), **TABLE_4_4,
                                  "trainer.epochs": STUDIES["thesis_run1"].epochs}),
    "thesis_run1_followup": ("§4.2 after Table 4.4", {**_model("efficientnetv2b3"), **TABLE_4_4, **RUN1_FOLLOW_UP}),
    "thesis_run2": ("Table 4.5", {**_model("efficientnetv2b3"), **TABLE_4_5,
                                  "trainer.epochs": STUDIES["thesis_run2"].epochs}),
    "thesis_efficientnetv2b3": ("Tables 4.6, 4.9, 4.10", {**_model("efficientnetv2b3"), **TABLE_4_6,
                                                         **FINAL_TRAINING}),
    "thesis_best_run": ("§4.3, 86.73 %", {**_model("efficientnetv2b3"), **TABLE_4_6, **FINAL_TRAINING,
                                         **BEST_RUN_UNFREEZE}),
    "thesis_resnet152v2": ("Tables 4.7, 4.9, 4.10", {**_model("resnet152v2"), **TABLE_4_7, **FINAL_TRAINING}),
    "thesis_densenet201": ("Tables 4.9, 4.10", {**_model("densenet201"), **TABLE_4_9["densenet201"],
                                               **FINAL_TRAINING}),
    "thesis_densenet201_study": ("Table 4.8", {**_model("densenet201"), **TABLE_4_8, **FINAL_TRAINING}),
}


def outside_space(space: list, winner: dict) -> list[str]:
    """`key=value` of each winning value the parsed space (`melanoma_exp.sweep.space.parse_space`) could
    not have suggested. A key searched only under a condition is checked where the winner meets it:
    the thesis reports a second dropout and "units 2: 0" for winners without a second dense layer,
    values this project's head would not use."""
    params = {p.name: p for p in space}
    missing = []
    for key, value in winner.items():
        param = params.get(key)
        if param is None:
            missing.append(f"{key}={value!r} (not searched)")
            continue
        if param.condition:
            parent, wanted = param.condition
            state = winner.get(parent)
            if state is not None and (not state if wanted is None else str(state) != wanted):
                continue
        dist = param.distribution
        if hasattr(dist, "choices"):
            inside = ("null" if value is None else value) in dist.choices
        else:
            inside = dist.low <= value <= dist.high
        if not inside:
            missing.append(f"{key}={value!r}")
    return missing


@functools.cache
def run_py_config(part: str, *overrides: str):
    """`python run.py OVERRIDES --cfg PART` (job | all), the documented command, parsed."""
    import os
    import subprocess
    import sys

    from omegaconf import OmegaConf

    from melanoma_exp.paths import project_root

    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, "run.py", *overrides, "--cfg", part], cwd=project_root(),
                            capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return OmegaConf.create(result.stdout)
