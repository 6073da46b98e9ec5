"""The sweep's MLflow settings: an unset artifact location stays unset (never a folder named "None")."""

import pytest
from omegaconf import OmegaConf

from melanoma_exp.sweep.report import SweepTracker, tracking_settings


def _config(tmp_path, location):
    return OmegaConf.create({"tracking": {"backend": "mlflow", "experiment_name": "exp",
                                          "tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}",
                                          "artifact_location": location}})


@pytest.fixture(autouse=True)
def _own_store(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # mlflow.set_tracking_uri elsewhere sets it


def test_null_artifact_location_is_left_to_mlflow(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    uri, name, location = tracking_settings(_config(tmp_path, None))
    assert location is None and name == "exp"
    experiment = SweepTracker(uri, name, location).client.get_experiment_by_name("exp")
    assert "None" not in experiment.artifact_location
    assert not (tmp_path / "None").exists()


def test_artifact_path_becomes_an_absolute_uri(tmp_path):
    uri, name, location = tracking_settings(_config(tmp_path, str(tmp_path / "art")))
    assert location == str(tmp_path / "art")
    experiment = SweepTracker(uri, name, location).client.get_experiment_by_name("exp")
    assert experiment.artifact_location == (tmp_path / "art").resolve().as_uri()
