"""Registry (aliases) and export from a real MLflow store, through the real `melanoma` CLI."""

from __future__ import annotations

import json

import mlflow
import pytest

from melanoma_exp.commands.main import main
from melanoma_exp.export.registry import CHAMPION, RegistryError, auto_promote, champion_version, promote

NAME = "melanoma-test"


def test_register_promote_and_auto_promote(mlflow_store, capsys):
    uri, (run_a, run_b, run_c) = mlflow_store
    assert main(["register", run_a, "--name", NAME, "--tracking-uri", uri]) == 0
    assert "version 1" in capsys.readouterr().out
    assert champion_version(NAME, tracking_uri=uri) == "1"  # the first version becomes champion
    assert main(["promote", NAME, "1", "--tracking-uri", uri]) == 0
    client = mlflow.MlflowClient(tracking_uri=uri)
    assert client.get_model_version_by_alias(NAME, CHAMPION).run_id == run_a
    # A better run takes over; a worse one does not.
    assert main(["register", run_b, "--name", NAME, "--auto-promote", "--tracking-uri", uri]) == 0
    assert champion_version(NAME, tracking_uri=uri) == "2"
    assert main(["register", run_c, "--name", NAME, "--auto-promote", "--tracking-uri", uri]) == 0
    assert champion_version(NAME, tracking_uri=uri) == "2"
    assert auto_promote(NAME, "3", metric="test/auc", greater_is_better=False, tracking_uri=uri)
    assert champion_version(NAME, tracking_uri=uri) == "3"
    promote(NAME, "2", tracking_uri=uri)
    with pytest.raises(RegistryError, match="known versions: 1, 2, 3"):
        promote(NAME, "9", tracking_uri=uri)
    assert main(["promote", NAME, "9", "--tracking-uri", uri]) == 1
    assert "no version 9" in capsys.readouterr().err


def test_export_champion_writes_contract_4_and_logs_it_back(mlflow_store, tmp_path):
    uri, runs = mlflow_store
    client = mlflow.MlflowClient(tracking_uri=uri)
    if champion_version(NAME, tracking_uri=uri) is None:  # when run alone
        for run in runs:
            main(["register", run, "--name", NAME, "--tracking-uri", uri])
        promote(NAME, "2", tracking_uri=uri)
    out = tmp_path / "bundle"
    assert main(["export", f"models:/{NAME}@champion", "--out", str(out), "--tracking-uri", uri]) == 0
    names = {p.name for p in out.iterdir()}
    assert {"model.keras", "model.tflite", "model_int8.tflite", "model.json", "MODEL_CARD.md"} <= names
    spec = json.loads((out / "model.json").read_text())
    assert spec["name"] == NAME and spec["version"] == "2" and spec["source_run_id"] == runs[1]
    assert spec["labels"] == ["benign", "malignant"] and spec["decision_threshold"] == 0.4
    assert spec["input"] | {"height": 32, "width": 32, "channels": 3, "color": "RGB",
                            "value_range": [0.0, 255.0]} == spec["input"]
    assert spec["metrics"]["test"]["auc"] == 0.85 and spec["metrics"]["baseline"]["sensitivity"] == 0.0
    assert "not medical advice" in spec["disclaimer"] and spec["limitations"] and spec["intended_use"]
    assert spec["recommendation_bands"]["benign"][0]["max_threshold_fraction"] == 0.2
    card = (out / "MODEL_CARD.md").read_text()
    for needle in ("Not medical advice", "| Sensitivity (malignant recall) | 0.900 | 0.000 |",
                   "dermoscopy", "skin tones", "synthetic", "p(malignant) 0 .. <= 0.08 (likely_benign)",
                   "p(malignant) >= 0.4 (malignant verdict, seek_care)"):
        assert needle in card, needle
    logged = {a.path for a in client.list_artifacts(runs[1], "bundle")}
    assert "bundle/model.json" in logged and "bundle/model_int8.tflite" in logged
    assert "optimizer" not in weight_groups(out / "model.keras")  # the logged model was trained with Adam


def weight_groups(keras_file) -> set[str]:
    """Top-level groups of a .keras file's weights: `layers`, plus `optimizer` when it kept its slots."""
    import io
    import zipfile

    import h5py

    with zipfile.ZipFile(keras_file) as archive, h5py.File(io.BytesIO(archive.read("model.weights.h5"))) as h5:
        return set(h5.keys())


def test_export_by_run_id_and_clear_errors(mlflow_store, tmp_path):
    uri, runs = mlflow_store
    out = tmp_path / "by-run"
    assert main(["export", runs[0], "--out", str(out), "--no-log", "--tracking-uri", uri]) == 0
    assert json.loads((out / "model.json").read_text())["version"] == f"run-{runs[0][:8]}"
    with pytest.raises(RegistryError, match="Registered models"):
        from melanoma_exp.export.registry import resolve_model

        resolve_model("models:/nope@champion", tracking_uri=uri)
    with pytest.raises(RegistryError, match="not a model URI"):
        resolve_model("something-else", tracking_uri=uri)
