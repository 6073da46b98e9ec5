"""Helpers shared by the trainer's end-to-end tests."""

from __future__ import annotations


def smoke_mlflow_run(tracking_uri: str):
    """(client, the one run of experiment melanoma-smoke) in a smoke run's MLflow store."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name("melanoma-smoke")
    (run,) = client.search_runs([experiment.experiment_id])
    return client, run
