"""`melanoma evaluate`: a logged model judged on another source (the domain gap), each line naming
the data it was trained on and the data it is judged on."""

from __future__ import annotations

import json
from pathlib import Path

from melanoma_exp import DISCLAIMER
from melanoma_exp.commands.evaluate import describe
from melanoma_exp.commands.main import main
from melanoma_exp.export.bundle import shipped_training_data


def _evaluate(uri: str, tmp_path: Path, model: str, data: str, *options: str) -> int:
    return main(["evaluate", model, data, f"paths.data_dir={tmp_path / 'data'}", "--tracking-uri", uri, *options])


def test_a_synthetic_model_is_judged_on_real_dermoscopy_and_says_so(mlflow_store, tmp_path, capsys):
    uri, runs = mlflow_store
    assert _evaluate(uri, tmp_path, runs[0], "data=isic_sample", "--json", "--bootstrap", "200") == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["trained_on"].startswith("data: synthetic")
    assert result["evaluated_on"].startswith("data: real sample") and result["split"] == "test"
    manifest = json.loads(next((tmp_path / "data" / "prepared").glob("isic_sample-32px-*/manifest.json")).read_text())
    auc = result["auc"]
    assert auc["n"] == manifest["counts"]["test"]["total"] and auc["n_malignant"] == manifest["counts"]["test"]["malignant"]
    assert 0 <= auc["auc_ci"][0] <= auc["auc"] <= auc["auc_ci"][1] <= 1
    assert result["at_0.5"]["threshold"] == 0.5 and result["at_threshold"]["threshold"] == 0.4  # the run's own
    text = describe(result)
    assert "judged on the test split of real sample" in text and f"{auc['n']} images" in text
    assert text.endswith(DISCLAIMER)


def test_unknown_model_is_a_one_line_error(mlflow_store, tmp_path, capsys):
    uri, _ = mlflow_store
    assert _evaluate(uri, tmp_path, "models:/nope@champion", "data=isic_sample") == 1
    assert capsys.readouterr().err.strip().splitlines()[-1].startswith("error: cannot resolve 'models:/nope@champion'")


def test_a_bundle_names_no_path_of_the_machine_that_built_it(tmp_path):
    data = {"source": "isic_sample", "kind": "real sample", "total": 417,
            "prepared_dir": str(tmp_path / "data" / "prepared" / "isic_sample-224px-all-abc"), "raw_dir": str(tmp_path)}
    shipped = shipped_training_data(data)
    assert str(tmp_path) not in json.dumps(shipped)
    assert shipped["prepared_folder"] == "isic_sample-224px-all-abc" and shipped["total"] == 417
