"""The config schema: types and allowed values of the config groups, checked by OmegaConf when Hydra
composes (a wrong type or an unknown choice fails naming the key, before any TensorFlow work).

The values themselves live in the YAML groups under conf/ only: every field here is MISSING, so a key
the YAML forgets is an error, never a silent code-side default. Each schema is stored in Hydra's
ConfigStore as ``<group>/schema`` and named first in the defaults list of that group's YAML files.
Ranges and rules across keys stay in `melanoma_exp.training.validate`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING


# The allowed values of the keys that name a choice (members compare equal to their strings).
def _choices(name: str, values: str) -> type[StrEnum]:
    return StrEnum(name, values, module=__name__)


ThresholdMethod = _choices("ThresholdMethod", "target_sensitivity youden f_beta")  # eval.threshold_method
TTATransform = _choices("TTATransform", "identity hflip vflip rot90 rot180 rot270 transpose antitranspose")  # eval.tta_transforms, `melanoma export --tta`
Activation = _choices("Activation", "relu gelu swish silu elu selu tanh sigmoid linear leaky_relu")
Regularizer = _choices("Regularizer", "l1 l2")
Balance = _choices("Balance", "undersample class_weight oversample none")
Distribute = _choices("Distribute", "none mirrored")
Backend = _choices("Backend", "tensorflow jax")  # trainer.backend (Keras 3 backends the trainer runs on)
Direction = _choices("Direction", "maximize minimize")
SamplerName = _choices("SamplerName", "tpe random")
PrunerName = _choices("PrunerName", "median percentile threshold hyperband none")
OODMethod = _choices("OODMethod", "lesion_gate mahalanobis")  # eval.ood.method

THRESHOLD_METHODS = tuple(m.value for m in ThresholdMethod)
TTA_TRANSFORMS = tuple(t.value for t in TTATransform)
METRIC_STEMS = ("loss", "accuracy", "auc", "pr_auc", "precision_malignant", "recall_malignant")
MONITORS = tuple(f"{split}/{stem}" for split in ("train", "val") for stem in METRIC_STEMS)


@dataclass
class SplitConfig:
    val: float = MISSING
    test: float = MISSING
    group_by: str = MISSING


@dataclass
class SynthConfig:
    n: int = MISSING
    size: int = MISSING
    seed: int = MISSING
    malignant_fraction: float = MISSING
    shortcut: float = MISSING
    sticker_rate: float = MISSING
    sticker_scale: float = MISSING
    masks: bool = MISSING


@dataclass
class DataConfig:
    source: str = MISSING
    raw_dir: str = MISSING
    prepared_root: str = MISSING
    image_size: int = MISSING
    batch_size: int = MISSING
    balance: Balance = MISSING
    benign_fraction: float = MISSING
    split: SplitConfig = field(default_factory=SplitConfig)
    augment: dict[str, Any] = MISSING  # open: `+data.augment.capture=P` adds the capture preset
    seed: int = MISSING
    shard_size: int = MISSING
    chunk_size: int | None = MISSING
    workers: int | None = MISSING
    synth: SynthConfig | None = MISSING


@dataclass
class HeadConfig:
    units: int | None = MISSING  # null: no hidden layer (pooled features -> prediction)
    activation: Activation = MISSING
    batch_norm: bool = MISSING
    dropout1: float = MISSING
    second_dense: bool = MISSING
    units2: int = MISSING
    dropout2: float = MISSING
    regularizer: Regularizer | None = MISSING
    regularization: float = MISSING


@dataclass
class UnfreezeConfig:
    after_epoch: int = MISSING
    fraction: float = MISSING
    lr_factor: float = MISSING
    keep_bn_frozen: bool = MISSING


@dataclass
class EarlyStoppingConfig:
    enabled: bool = MISSING
    patience: int = MISSING
    min_delta: float = MISSING


@dataclass
class ReduceLRConfig:
    enabled: bool = MISSING
    factor: float = MISSING
    patience: int = MISSING
    min_lr: float = MISSING


@dataclass
class GradcamConfig:
    enabled: bool = MISSING
    n_images: int = MISSING
    max_marker_images: int = MISSING


@dataclass
class TrainerConfig:
    epochs: int = MISSING
    monitor: str = MISSING  # one of MONITORS (checked by validate: the list is built, not an enum)
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)
    reduce_lr: ReduceLRConfig = field(default_factory=ReduceLRConfig)
    threshold: float = MISSING
    seed: int = MISSING
    deterministic: bool = MISSING
    mixed_precision: Any = MISSING  # auto | true | false
    jit_compile: Any = MISSING  # auto | true | false
    distribute: Distribute = MISSING
    backend: Backend = MISSING
    steps_per_epoch: int | None = MISSING
    resume: bool = MISSING
    run_dir: str | None = MISSING
    verbose: int = MISSING
    gradcam: GradcamConfig = field(default_factory=GradcamConfig)


@dataclass
class CalibrationConfig:
    enabled: bool = MISSING
    bins: int = MISSING
    min_temperature: float = MISSING
    max_temperature: float = MISSING


@dataclass
class RobustnessConfig:
    enabled: bool = MISSING
    max_images: int = MISSING


@dataclass
class GateConfig:
    size: int = MISSING
    views: int = MISSING
    c: float = MISSING


@dataclass
class RealLesionsConfig:
    dir: str | None = MISSING  # isic-cli folder of real dermoscopy (the shipped sample)
    fit_fraction: float = MISSING
    seed: int = MISSING


@dataclass
class FreshLesionsConfig:
    n: int = MISSING
    render_size: int = MISSING
    seed: int = MISSING


@dataclass
class OODConfig:
    enabled: bool = MISSING
    method: OODMethod = MISSING
    layer: str = MISSING
    n_components: int = MISSING
    max_lesion_rejection: float = MISSING
    min_threshold: float = MISSING
    n_non_lesion: int = MISSING
    n_objects: int = MISSING
    max_train: int = MISSING
    held_out_sources: list[str] | None = MISSING  # packages of melanoma_exp.data.real_photos.SOURCES
    crops_per_photo: int = MISSING
    gate: GateConfig = field(default_factory=GateConfig)
    real_lesions: RealLesionsConfig = field(default_factory=RealLesionsConfig)
    fresh_lesions: FreshLesionsConfig = field(default_factory=FreshLesionsConfig)
    compare: bool = MISSING


@dataclass
class EvalConfig:
    enabled: bool = MISSING
    threshold_method: ThresholdMethod = MISSING
    target_sensitivity: float = MISSING
    beta: float = MISSING
    bootstrap: int = MISSING
    confidence: float = MISSING
    seed: int = MISSING
    calibration: CalibrationConfig = field(default_factory=CalibrationConfig)
    subgroup_margin: float = MISSING
    subgroup_min_malignant: int = MISSING
    robustness: RobustnessConfig = field(default_factory=RobustnessConfig)
    ood: OODConfig = field(default_factory=OODConfig)
    tta: bool = MISSING
    checks_in_sweep: bool = MISSING
    tta_transforms: list[TTATransform] = MISSING


@dataclass
class CVConfig:
    folds: int = MISSING
    seed: int = MISSING
    group_by: str = MISSING
    fold_checks: bool = MISSING


@dataclass
class SamplerConfig:
    name: SamplerName = MISSING
    seed: int | None = MISSING
    n_startup_trials: int = MISSING


@dataclass
class PrunerConfig:
    name: PrunerName = MISSING
    n_startup_trials: int = MISSING
    warmup_epochs: int = MISSING
    percentile: float = MISSING
    lower: float | None = MISSING
    upper: float | None = MISSING
    min_resource: int = MISSING
    max_resource: Any = MISSING  # auto | an epoch count
    reduction_factor: int = MISSING


@dataclass
class HeartbeatConfig:
    interval: int | None = MISSING
    grace_period: int | None = MISSING
    max_retry: int | None = MISSING


@dataclass
class SweepConfig:
    storage: str = MISSING
    study_name: str = MISSING
    metric: str = MISSING
    direction: Direction = MISSING
    n_trials: int = MISSING
    max_failures: int | None = MISSING
    batch_size: int | None = MISSING
    wait_for_running: bool = MISSING
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    pruner: PrunerConfig = field(default_factory=PrunerConfig)
    heartbeat: HeartbeatConfig = field(default_factory=HeartbeatConfig)
    best_experiment_dir: str = MISSING
    trial_number: int | None = MISSING
    parent_run_id: str | None = MISSING


SCHEMAS = {"data": DataConfig, "head": HeadConfig, "unfreeze": UnfreezeConfig, "trainer": TrainerConfig,
           "eval": EvalConfig, "cv": CVConfig, "sweep": SweepConfig}


def register() -> None:
    """Store every group's schema as ``<group>/schema`` (idempotent; `melanoma_exp.config` calls it)."""
    store = ConfigStore.instance()
    for group, node in SCHEMAS.items():
        # sweep/*.yaml are `@package _global_` (they also set hydra.* and trainer.*): its schema
        # still belongs under `sweep`.
        store.store(group=group, name="schema", node=node, package=group)
