"""Fixtures for registry/export tests: a real MLflow store in tmp with tiny Keras models logged the
way the trainer logs them (`mlflow.keras.log_model(name="model")` + report.json at the root)."""

from __future__ import annotations

import pytest

SIZE = 32


def _report(auc: float, threshold: float = 0.4) -> dict:
    test = {"accuracy": 0.8, "auc": auc, "pr_auc": 0.7, "sensitivity": 0.9, "specificity": 0.7,
            "precision_malignant": 0.75, "recall_malignant": 0.9, "f1_malignant": 0.82,
            "f2_malignant": 0.86, "confusion_matrix": [[7, 3], [1, 9]], "n": 20}
    baseline = {**{k: 0.5 for k in test if k not in ("confusion_matrix", "n")}, "sensitivity": 0.0,
                "confusion_matrix": [[10, 0], [10, 0]], "n": 20}
    return {"model": {"name": "tiny_cnn", "image_size": SIZE, "weights": None},
            "data": {"source": "synthetic", "image_size": SIZE, "counts": {"train": 40, "test": 20}},
            "threshold": threshold, "monitor": {"name": "val/accuracy", "value": 0.8, "epoch": 1},
            "test": test, "baseline": baseline}


def log_tiny_run(tracking_uri: str, experiment_id: str, auc: float, seed: int) -> str:
    """Train a tiny CNN for one epoch and log it like the trainer does; returns the run id."""
    import keras
    import mlflow

    from melanoma_exp.export.tiny_bundle import build_tiny_model, synthetic_arrays

    keras.utils.set_random_seed(seed)
    images, labels = synthetic_arrays(24, SIZE, seed)
    model = build_tiny_model(SIZE)
    model.fit(images.astype("float32"), labels, epochs=1, batch_size=8, verbose=0)
    mlflow.set_tracking_uri(tracking_uri)
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.log_metrics({"test/auc": auc, "test/sensitivity": 0.9})
        mlflow.keras.log_model(model, name="model", pip_requirements=["keras==3.15.1"])
        mlflow.log_dict(_report(auc), "report.json")
    return run.info.run_id


@pytest.fixture(scope="session")
def mlflow_store(tmp_path_factory):
    """`(tracking_uri, [run_id_auc_0.70, run_id_auc_0.85, run_id_auc_0.60])` in a fresh store."""
    import mlflow

    root = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    client = mlflow.MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("export-tests", artifact_location=(root / "artifacts").as_uri())
    runs = [log_tiny_run(uri, exp, auc, seed) for seed, auc in enumerate((0.70, 0.85, 0.60))]
    return uri, runs
