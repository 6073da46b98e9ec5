"""The two-phase fine-tuning schedule (config group `unfreeze/`).

Phase 0 trains the head with the backbone frozen for `after_epoch` epochs. Phase 1 opens the top
`fraction` of the backbone's layers (BatchNormalization kept in inference mode when
`keep_bn_frozen`), and continues at `optimizer.learning_rate x lr_factor`. Epoch numbers and the
optimizer's state (step counter, moments of the head's weights) continue across the boundary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class UnfreezeSchedule:
    """Which epochs belong to which phase, and what phase 1 opens."""

    after_epoch: int
    fraction: float
    lr_factor: float
    keep_bn_frozen: bool

    @classmethod
    def from_config(cls, unfreeze_cfg: Any) -> UnfreezeSchedule:
        return cls(
            after_epoch=int(unfreeze_cfg.after_epoch),
            fraction=float(unfreeze_cfg.fraction),
            lr_factor=float(unfreeze_cfg.lr_factor),
            keep_bn_frozen=bool(unfreeze_cfg.keep_bn_frozen),
        )

    @property
    def unfreezes(self) -> bool:
        """True when a phase 1 exists (some of the backbone ever trains)."""
        return self.fraction > 0

    def phase_of(self, epoch: int) -> int:
        """Phase (0 = head only, 1 = fine-tuning) of the 0-based `epoch`."""
        return 1 if self.unfreezes and epoch >= self.after_epoch else 0

    def phases(self, start_epoch: int, total_epochs: int) -> list[tuple[int, int, int]]:
        """The `(phase, first_epoch, end_epoch)` spans left to train from `start_epoch` (0-based)."""
        spans = []
        boundary = min(self.after_epoch, total_epochs) if self.unfreezes else total_epochs
        if start_epoch < boundary:
            spans.append((0, start_epoch, boundary))
        if self.unfreezes and max(start_epoch, boundary) < total_epochs:
            spans.append((1, max(start_epoch, boundary), total_epochs))
        return spans


def freeze_backbone(model) -> None:
    """Make the whole backbone non-trainable (phase 0)."""
    model.get_layer("backbone").trainable = False


def unfreeze_backbone(model, fraction: float, keep_bn_frozen: bool) -> int:
    """Open the top `fraction` of the backbone's layers for training (phase 1).

    Args:
        model: a model from `build_model` (holds a layer named ``backbone``).
        fraction: share of the backbone's layers, counted from the output end, to train.
        keep_bn_frozen: keep every BatchNormalization layer non-trainable, which in Keras 3 also
            runs it in inference mode (its moving statistics stay the pre-trained ones).

    Returns:
        Number of backbone layers made trainable.
    """
    import keras

    backbone = model.get_layer("backbone")
    layers = [layer for layer in backbone.layers if not isinstance(layer, keras.layers.InputLayer)]
    n_open = round(len(layers) * fraction)
    if n_open == 0:
        backbone.trainable = False
        return 0
    backbone.trainable = True  # recursive: every sub-layer True; then close what stays frozen
    first_open = len(layers) - n_open
    opened = 0
    for index, layer in enumerate(layers):
        is_bn = isinstance(layer, keras.layers.BatchNormalization)
        layer.trainable = index >= first_open and not (keep_bn_frozen and is_bn)
        opened += int(layer.trainable)
    return opened


def carry_optimizer(old, model, learning_rate: float):
    """A fresh optimizer for the model's new trainable set, carrying the old one's state over.

    Keras 3 optimizers are built for a fixed variable list; phase 1 trains more variables. The new
    optimizer has the same class and settings; its step counter and the slots (moments) of every
    variable that was already trained are copied, matched by name, so the head's Adam moments do not
    restart.

    Args:
        old: the phase-0 optimizer (built).
        model: the model after `unfreeze_backbone`.
        learning_rate: the phase-1 learning rate.

    Returns:
        The new, built optimizer.
    """
    new = old.__class__.from_config(old.get_config())
    new.build(model.trainable_variables)
    previous = {(v.name, tuple(v.shape)): v for v in old.variables}
    for variable in new.variables:
        source = previous.get((variable.name, tuple(variable.shape)))
        if source is not None:
            variable.assign(source)
    new.learning_rate.assign(learning_rate)
    return new
