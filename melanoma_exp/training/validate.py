"""Check the composed config before any TensorFlow work, with errors that name the bad key.

Types and allowed choices are the schema's (`melanoma_exp.schema`, checked when Hydra composes);
this adds what a schema cannot say: ranges (`unfreeze.fraction=1.5`), rules across keys, the
backbone registry, and the groups without a schema (model, optimizer, tracking).
"""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig, OmegaConf

from melanoma_exp.data.real_photos import SOURCES as REAL_PHOTO_SOURCES
from melanoma_exp.models.registry import UnknownModelError, get_backbone
from melanoma_exp.schema import MONITORS, TTA_TRANSFORMS

TRI_STATE = ("auto", True, False)


class ConfigError(ValueError):
    """A config value is invalid; the message names the key and what is allowed."""


def _select(cfg: DictConfig, key: str) -> Any:
    value = OmegaConf.select(cfg, key, throw_on_missing=False, default="__absent__")
    if value == "__absent__":
        raise ConfigError(f"{key}: missing from the composed config")
    return value


def _number(cfg, key, *, low=None, high=None, integer=False, low_open=False, high_open=False):
    value = _select(cfg, key)
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ConfigError(f"{key}={value!r}: expected {'an integer' if integer else 'a number'}")
    if low is not None and (value < low or (low_open and value == low)):
        raise ConfigError(f"{key}={value!r}: must be {'>' if low_open else '>='} {low}")
    if high is not None and (value > high or (high_open and value == high)):
        raise ConfigError(f"{key}={value!r}: must be {'<' if high_open else '<='} {high}")
    return value


def _choice(cfg, key, allowed):
    value = _select(cfg, key)
    if value not in allowed:
        raise ConfigError(f"{key}={value!r}: must be one of {', '.join(map(repr, allowed))}")
    return value


def validate_config(cfg: DictConfig) -> None:
    """Raise `ConfigError` naming the first invalid key; return None when the config is usable."""
    try:
        get_backbone(_select(cfg, "model.name"))
    except UnknownModelError as exc:
        raise ConfigError(str(exc)) from None
    _validate_data(cfg)
    _validate_head(cfg)
    _validate_optimizer(cfg)
    _validate_unfreeze(cfg)
    _validate_trainer(cfg)
    _choice(cfg, "tracking.backend", ("mlflow", "none"))
    if cfg.get("eval") is not None:
        _validate_eval(cfg)


def _validate_data(cfg):
    _number(cfg, "data.image_size", low=32, integer=True)
    _number(cfg, "data.batch_size", low=1, integer=True)


def _validate_head(cfg):
    if cfg.head.units is None:  # GAP -> Dense(1): nothing for dropout1 or a second layer to follow
        for key, off in (("dropout1", 0), ("second_dense", False)):
            if cfg.head[key] != off:
                raise ConfigError(f"head.{key}={cfg.head[key]!r}: head.units=null builds no hidden "
                                  f"layer for it to follow; set head.{key}={str(off).lower()}")
    else:
        _number(cfg, "head.units", low=1, integer=True)
    _number(cfg, "head.dropout1", low=0, high=1, high_open=True)
    if _select(cfg, "head.second_dense"):
        _number(cfg, "head.units2", low=1, integer=True)
        _number(cfg, "head.dropout2", low=0, high=1, high_open=True)
    if _select(cfg, "head.regularizer") is not None:
        _number(cfg, "head.regularization", low=0)


def _validate_optimizer(cfg):
    target = _select(cfg, "optimizer._target_")
    if not isinstance(target, str) or not target.startswith("keras.optimizers."):
        raise ConfigError(f"optimizer._target_={target!r}: expected a keras.optimizers class")
    _number(cfg, "optimizer.learning_rate", low=0, low_open=True)


def _validate_unfreeze(cfg):
    _number(cfg, "unfreeze.after_epoch", low=0, integer=True)
    _number(cfg, "unfreeze.fraction", low=0, high=1)
    _number(cfg, "unfreeze.lr_factor", low=0, low_open=True)


def _validate_trainer(cfg):
    _number(cfg, "trainer.epochs", low=1, integer=True)
    _choice(cfg, "trainer.monitor", MONITORS)
    _number(cfg, "trainer.early_stopping.patience", low=0, integer=True)
    _number(cfg, "trainer.reduce_lr.patience", low=0, integer=True)
    _number(cfg, "trainer.reduce_lr.factor", low=0, high=1, low_open=True, high_open=True)
    _number(cfg, "trainer.threshold", low=0, high=1, low_open=True, high_open=True)
    _choice(cfg, "trainer.mixed_precision", TRI_STATE)
    _choice(cfg, "trainer.jit_compile", TRI_STATE)
    steps = _select(cfg, "trainer.steps_per_epoch")
    if steps is not None:
        _number(cfg, "trainer.steps_per_epoch", low=1, integer=True)


def _validate_eval(cfg):
    """The clinical evaluation runs after training: a bad value here would cost a whole run."""
    if not cfg.eval.enabled:
        return
    method = cfg.eval.threshold_method
    if method == "target_sensitivity":
        _number(cfg, "eval.target_sensitivity", low=0, high=1, low_open=True)
    if method == "f_beta":
        _number(cfg, "eval.beta", low=0, low_open=True)
    _number(cfg, "eval.bootstrap", low=1, integer=True)
    _number(cfg, "eval.confidence", low=0, high=1, low_open=True, high_open=True)
    _number(cfg, "eval.seed", low=0, integer=True)
    if cfg.eval.calibration.enabled:
        _number(cfg, "eval.calibration.bins", low=1, integer=True)
        low = _number(cfg, "eval.calibration.min_temperature", low=0, low_open=True)
        high = _number(cfg, "eval.calibration.max_temperature", low=0, low_open=True)
        if high <= low:
            raise ConfigError(f"eval.calibration.max_temperature={high!r}: must be > "
                              f"eval.calibration.min_temperature={low!r}")
    _number(cfg, "eval.subgroup_margin", low=0, high=1)
    _number(cfg, "eval.subgroup_min_malignant", low=0, integer=True)
    if cfg.eval.robustness.enabled:
        _number(cfg, "eval.robustness.max_images", low=1, integer=True)
    if cfg.eval.ood.enabled:
        if not cfg.eval.ood.layer:
            raise ConfigError("eval.ood.layer='': expected a layer name (the models' is backbone)")
        _number(cfg, "eval.ood.n_components", low=1, integer=True)
        _number(cfg, "eval.ood.max_lesion_rejection", low=0, high=1, high_open=True)
        _number(cfg, "eval.ood.min_threshold", low=0, high=1, high_open=True)
        _number(cfg, "eval.ood.n_non_lesion", low=2, integer=True)
        _number(cfg, "eval.ood.n_objects", low=0, integer=True)
        _number(cfg, "eval.ood.max_train", low=1, integer=True)
        held = cfg.eval.ood.held_out_sources
        if [s for s in (held or []) if s not in REAL_PHOTO_SOURCES]:
            raise ConfigError(f"eval.ood.held_out_sources={held!r}: expected a list of {', '.join(REAL_PHOTO_SOURCES)}")
        _number(cfg, "eval.ood.crops_per_photo", low=1, integer=True)
        _number(cfg, "eval.ood.gate.size", low=32, integer=True)
        _number(cfg, "eval.ood.gate.views", low=1, integer=True)
        _number(cfg, "eval.ood.gate.c", low=0, low_open=True)
        _number(cfg, "eval.ood.real_lesions.fit_fraction", low=0, high=1, low_open=True, high_open=True)
        _number(cfg, "eval.ood.real_lesions.seed", low=0, integer=True)
        _number(cfg, "eval.ood.fresh_lesions.n", low=1, integer=True)
        _number(cfg, "eval.ood.fresh_lesions.render_size", low=16, integer=True)
    if cfg.eval.tta and not cfg.eval.tta_transforms:
        raise ConfigError(f"eval.tta_transforms=[]: eval.tta=true needs at least one of {', '.join(TTA_TRANSFORMS)}")


class SyntheticSweepRefused(ConfigError):
    """An ImageNet-weight >= 224 px sweep on the default synthetic data (see `check_sweep_data`)."""


def data_chosen_explicitly(overrides: list[str]) -> bool:
    """True when the command line chose the data group: `data=...` or a recipe (`+experiment=...`).

    The rule is deliberately simple: Hydra does not say whether a group's choice came from the
    defaults list or from an override, so a `data=` override counts, and so does any recipe from
    experiments/ (each one pins `override /data: ...`; best_<study>.yaml recipes written by sweeps
    pin every group the sweep used).
    """
    keys = {str(o).lstrip("+~").split("=", 1)[0].strip() for o in overrides}
    return "data" in keys or "experiment" in keys


def check_sweep_data(cfg: DictConfig, overrides: list[str]) -> None:
    """Refuse an ImageNet-weight >= 224 px sweep on synthetic data that nobody asked for.

    `python run.py model=densenet201 +sweep=optuna` composes the default `data: synthetic`; on a GPU
    box after `make data` that would quietly spend GPU hours on data that says nothing about skin.
    Raises `SyntheticSweepRefused` (a `ConfigError`; before the study is opened, so no trial is created) unless the command
    line chose the data group (see `data_chosen_explicitly`).
    """
    source = OmegaConf.select(cfg, "data.source", default=None)
    weights = OmegaConf.select(cfg, "model.weights", default=None)
    size = OmegaConf.select(cfg, "data.image_size", default=None)
    try:
        size = int(size)
    except (TypeError, ValueError):
        return  # validate_config names a bad image size in each trial
    if source != "synthetic" or weights != "imagenet" or size < 224:
        return
    if data_chosen_explicitly(overrides):
        return
    raw_dir = OmegaConf.select(cfg, "data.raw_dir", default="?")
    model = OmegaConf.select(cfg, "model.name", default="?")
    raise SyntheticSweepRefused(
        f"Refusing to sweep synthetic data: the composed config trains {model} with ImageNet weights "
        f"at {size} px on data.source=synthetic (the default `data: synthetic` of conf/config.yaml, "
        f"raw folder {raw_dir}), and the command line did not choose the data. Such a sweep says "
        f"nothing about skin and wastes GPU hours. Either sweep the real archive: `make data`, then "
        f"add `data=isic`; or add `data=synthetic` to mean it."
    )
