"""End to end on real components: run.py killed mid-run, resumed with train(cfg), tracked in a real
MLflow store (SQLite + artifact folder in tmp). Specifications of what one training run produces."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from .helpers import smoke_mlflow_run

pytestmark = pytest.mark.slow
EPOCHS = 3  # as in conftest.smoke_overrides

REPORT_KEYS = {"model", "data", "threshold", "monitor", "test", "baseline"}
TEST_KEYS = {"accuracy", "auc", "pr_auc", "sensitivity", "specificity", "precision_malignant",
             "recall_malignant", "f1_malignant", "f2_malignant", "precision_benign", "recall_benign",
             "f1_benign", "confusion_matrix", "n"}


@pytest.fixture(scope="module")
def mlflow_run(smoke_run):
    return smoke_mlflow_run(smoke_run.tracking_uri)


def _history(client, run, key):
    return sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, key))


def test_interrupted_run_resumes_at_the_next_epoch_and_phase(smoke_run, mlflow_run):
    interrupted, state = smoke_run.interrupted, smoke_run.state
    assert 1 <= interrupted["epoch"] < EPOCHS and not interrupted["finished"]
    assert state["finished"] and state["epoch"] == EPOCHS
    # every epoch exactly once, in order, across the kill
    assert [row["epoch"] for row in state["history"]] == list(range(EPOCHS))
    assert [row["train/phase"] for row in state["history"]] == [0.0, 1.0, 1.0]
    client, run = mlflow_run
    assert run.data.tags["resumed_at_epoch"] == str(interrupted["epoch"])
    assert [step for step, _ in _history(client, run, "train/loss")] == list(range(EPOCHS))


def test_objective_is_the_best_monitored_value(smoke_run, mlflow_run):
    values = [row["val/accuracy"] for row in smoke_run.state["history"]]
    assert smoke_run.objective == pytest.approx(max(values))
    client, run = mlflow_run
    assert max(v for _, v in _history(client, run, "val/accuracy")) == pytest.approx(smoke_run.objective)
    report = json.loads((smoke_run.run_dir / "evaluation" / "report.json").read_text())
    assert report["monitor"] == {"name": "val/accuracy", "value": pytest.approx(smoke_run.objective),
                                 "epoch": values.index(max(values))}


def test_unfreeze_boundary_opens_the_backbone_and_divides_the_lr(smoke_run, mlflow_run):
    rows = smoke_run.state["history"]
    assert smoke_run.state["boundary_epoch"] == 1
    assert rows[1]["train/trainable_params"] > rows[0]["train/trainable_params"]
    assert rows[2]["train/trainable_params"] == rows[1]["train/trainable_params"]
    assert rows[0]["train/learning_rate"] == pytest.approx(1e-3)
    assert rows[1]["train/learning_rate"] == pytest.approx(1e-3 * 0.1)
    client, run = mlflow_run
    assert run.data.tags["unfreeze.boundary_epoch"] == "1"
    assert [v for _, v in _history(client, run, "train/phase")] == [0.0, 1.0, 1.0]


def test_fine_tuned_model_keeps_batchnorm_frozen_and_opens_the_top_half(smoke_run, mlflow_run):
    import keras
    import mlflow

    _, run = mlflow_run
    mlflow.set_tracking_uri(smoke_run.tracking_uri)
    (logged,) = mlflow.search_logged_models(experiment_ids=[run.info.experiment_id], output_format="list")
    model = mlflow.keras.load_model(logged.model_uri)  # the resumed run's model, after fine-tuning
    layers = [lyr for lyr in model.get_layer("backbone").layers if not isinstance(lyr, keras.layers.InputLayer)]
    bn = [lyr for lyr in layers if isinstance(lyr, keras.layers.BatchNormalization)]
    assert bn and not any(lyr.trainable for lyr in bn)
    top, bottom = layers[len(layers) // 2 + 1 :], layers[: len(layers) // 2 - 1]
    assert not any(lyr.trainable for lyr in bottom)
    assert any(lyr.trainable for lyr in top if lyr.weights and lyr not in bn)


def test_metrics_use_contract_names(mlflow_run):
    _, run = mlflow_run
    metrics = set(run.data.metrics)
    for split in ("train", "val"):
        assert {f"{split}/{m}" for m in ("loss", "accuracy", "auc", "recall_malignant")} <= metrics
    for prefix in ("test", "baseline"):
        assert {f"{prefix}/{m}" for m in ("accuracy", "auc", "sensitivity", "specificity", "f2_malignant")} <= metrics
    assert run.data.metrics["baseline/sensitivity"] == 0.0  # most frequent = benign in this split


def test_test_metrics_at_0_5_sit_beside_the_operating_point(smoke_run, mlflow_run):
    """The thesis's tables use argmax (0.5) verdicts: report.json `at_0.5` and MLflow `test_at_0.5/...`."""
    import numpy as np
    import pandas as pd

    from melanoma_exp.data.pipeline import load_split_index

    report = json.loads((smoke_run.run_dir / "evaluation" / "report.json").read_text())
    predictions = pd.read_csv(smoke_run.run_dir / "evaluation" / "predictions.csv")
    labels = load_split_index(smoke_run.prepared, "test").set_index("isic_id").loc[predictions["image"], "label"]
    verdicts = predictions["malignant"].to_numpy() >= 0.5
    at_half = report["at_0.5"]
    assert at_half["n"] == len(labels) == report["test"]["n"]
    assert at_half["accuracy"] == pytest.approx(np.mean(verdicts == labels.to_numpy().astype(bool)))
    _, run = mlflow_run
    assert run.data.metrics["test_at_0.5/accuracy"] == pytest.approx(at_half["accuracy"])
    assert run.data.metrics["test_at_0.5/tp"] == at_half["confusion_matrix"][1][1]


def test_run_logs_config_params_and_artifacts(smoke_run, mlflow_run):
    client, run = mlflow_run
    assert run.data.params["model.name"] == "efficientnetv2b0"
    assert run.data.params["unfreeze.fraction"] == "0.5"
    assert run.info.status == "FINISHED"
    root = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"config.yaml", "report.json", "evaluation", "gradcam"} <= root
    evaluation = {a.path for a in client.list_artifacts(run.info.run_id, "evaluation")}
    assert {f"evaluation/{n}" for n in ("training_curves.png", "roc.png", "pr.png", "confusion_matrix.png",
                                        "predictions.csv")} <= evaluation
    assert "gradcam/gradcam_grid.png" in {a.path for a in client.list_artifacts(run.info.run_id, "gradcam")}
    config_path = client.download_artifacts(run.info.run_id, "config.yaml", str(smoke_run.root))
    assert "efficientnetv2b0" in open(config_path).read()


def test_report_json_follows_the_export_schema(smoke_run, mlflow_run):
    client, run = mlflow_run
    report = json.loads(open(client.download_artifacts(run.info.run_id, "report.json", str(smoke_run.root))).read())
    assert REPORT_KEYS <= set(report)
    assert report["model"] == {"name": "efficientnetv2b0", "image_size": 32, "weights": None}
    assert TEST_KEYS <= set(report["test"]) and TEST_KEYS <= set(report["baseline"])
    assert report["data"]["source"] == "synthetic" and report["data"]["prepared_dir"] == str(smoke_run.prepared)
    n_test = report["data"]["counts"]["test"]["total"]
    assert report["test"]["n"] == n_test == sum(map(sum, report["test"]["confusion_matrix"]))
    assert report["disclaimer"].startswith("This is a research tool")


def test_logged_model_reproduces_the_predictions_csv(smoke_run, mlflow_run):
    import mlflow

    from melanoma_exp.data.pipeline import load_split_index, make_dataset

    _, run = mlflow_run
    mlflow.set_tracking_uri(smoke_run.tracking_uri)
    (logged,) = mlflow.search_logged_models(
        experiment_ids=[run.info.experiment_id], output_format="list"
    )
    assert logged.source_run_id == run.info.run_id and logged.name == "model"
    model = mlflow.keras.load_model(logged.model_uri)
    csv = pd.read_csv(smoke_run.run_dir / "evaluation" / "predictions.csv")
    index = load_split_index(smoke_run.prepared, "test")
    assert list(csv["image"]) == list(index["isic_id"])
    probs = model.predict(make_dataset(smoke_run.prepared, "test", batch_size=16, training=False), verbose=0)
    np.testing.assert_allclose(csv["malignant"], probs.ravel(), atol=1e-5)
    assert np.allclose(csv["benign"] + csv["malignant"], 1.0)


def test_marker_attention_is_logged_when_masks_exist(smoke_run, mlflow_run):
    report = json.loads((smoke_run.run_dir / "evaluation" / "report.json").read_text())
    explain = report["explain"]
    assert explain["gradcam_layer"] == "top_activation" and len(explain["gradcam_images"]) == 4
    assert explain["gradcam_threshold"] == report["threshold"]  # the grid's right/wrong = the served verdict
    if explain.get("marker_images"):
        _, run = mlflow_run
        assert 0.0 <= run.data.metrics["explain/marker_attention"] <= 1.0
        lift = run.data.metrics["explain/marker_attention"] / run.data.metrics["explain/marker_area_share"]
        assert run.data.metrics["explain/marker_attention_lift"] == pytest.approx(lift)
    else:  # no test image of this tiny split carries a sticker: nothing to measure, nothing logged
        assert "explain/marker_attention" not in mlflow_run[1].data.metrics


def test_finished_run_folder_is_not_trained_again(smoke_run):
    from melanoma_exp.commands.train import train
    from melanoma_exp.config import compose

    again = train(compose(smoke_run.overrides))
    assert again == pytest.approx(smoke_run.objective)
    assert not math.isnan(again)
