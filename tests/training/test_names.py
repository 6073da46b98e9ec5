"""Keras log keys map onto the contract-3 metric names and back."""

import math

import pytest

from melanoma_exp.schema import MONITORS
from melanoma_exp.training.names import contract_logs, contract_name, improved, keras_key, monitor_mode


@pytest.mark.parametrize(
    ("keras", "contract"),
    [("loss", "train/loss"), ("val_accuracy", "val/accuracy"), ("val_recall", "val/recall_malignant"),
     ("precision", "train/precision_malignant"), ("val_pr_auc", "val/pr_auc"), ("auc", "train/auc")],
)
def test_round_trip(keras, contract):
    assert contract_name(keras) == contract
    assert keras_key(contract) == keras


def test_every_valid_monitor_has_a_keras_key_and_mode():
    for monitor in MONITORS:
        assert contract_name(keras_key(monitor)) == monitor
    assert monitor_mode("val/loss") == "min" and monitor_mode("val/recall_malignant") == "max"


def test_logs_are_renamed_and_learning_rate_is_not_a_metric():
    assert contract_logs({"loss": 0.5, "val_recall": 1, "learning_rate": 0.1}) == {
        "train/loss": 0.5, "val/recall_malignant": 1.0}


def test_nan_never_improves():
    assert improved(0.5, None, "max") and improved(0.2, 0.3, "min") and not improved(0.2, 0.3, "max")
    assert not improved(math.nan, 0.1, "max")
