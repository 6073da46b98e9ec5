"""Keras log keys <-> contract-3 metric names (`val_recall` <-> `val/recall_malignant`)."""

from __future__ import annotations

import math

# Keras metric name (as compiled) -> contract stem. The positive class is malignant (label 1).
_STEMS = {"precision": "precision_malignant", "recall": "recall_malignant"}
_KERAS = {stem: keras for keras, stem in _STEMS.items()}


def contract_name(keras_key: str) -> str | None:
    """`val_recall` -> `val/recall_malignant`, `loss` -> `train/loss`; None for non-metrics."""
    if keras_key == "learning_rate":
        return None
    split, stem = ("val", keras_key[4:]) if keras_key.startswith("val_") else ("train", keras_key)
    return f"{split}/{_STEMS.get(stem, stem)}"


def keras_key(contract: str) -> str:
    """`val/accuracy` -> `val_accuracy`, `train/recall_malignant` -> `recall`."""
    split, _, stem = contract.partition("/")
    stem = _KERAS.get(stem, stem)
    return f"val_{stem}" if split == "val" else stem


def monitor_mode(contract: str) -> str:
    """`min` for losses, `max` for every other monitored metric."""
    return "min" if contract.endswith("loss") else "max"


def contract_logs(logs: dict) -> dict[str, float]:
    """Rename one epoch's Keras logs to contract names (floats; NaN kept so it is visible)."""
    out = {}
    for key, value in (logs or {}).items():
        name = contract_name(key)
        if name is not None:
            out[name] = float(value)
    return out


def improved(value: float, best: float | None, mode: str) -> bool:
    """Is `value` better than `best` under `mode`? NaN never improves."""
    if value is None or math.isnan(value):
        return False
    if best is None or math.isnan(best):
        return True
    return value < best if mode == "min" else value > best
