"""`melanoma ensemble` against a real MLflow store with two tiny trained member runs."""

import json

import pytest

from melanoma_exp.commands.main import main

from .tiny_models import nested_classifier

pytestmark = pytest.mark.slow  # trains two member models (~20 s of setup on 2 cores)


@pytest.fixture(scope="module")
def store(prepared_small, tmp_path_factory):
    """Two member runs (different seeds) logged like the trainer logs them: model + report.json."""
    import mlflow

    from melanoma_exp.data.pipeline import make_dataset

    root = tmp_path_factory.mktemp("ensemble_store")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    exp = mlflow.create_experiment("members", artifact_location=(root / "artifacts").as_uri())
    run_ids = []
    for seed in (0, 1):
        model = nested_classifier(seed=seed)
        model.fit(make_dataset(prepared_small, "train", batch_size=16, training=True, seed=seed), epochs=2, verbose=0)
        with mlflow.start_run(experiment_id=exp) as run:
            mlflow.keras.log_model(model, name="model", pip_requirements=["keras"])
            mlflow.log_dict({"threshold": 0.4, "data": {"prepared_dir": str(prepared_small)}}, "report.json")
            run_ids.append(run.info.run_id)
    return uri, run_ids, root


def _ensemble_run(uri, name):
    import mlflow

    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(experiment_names=["melanoma-ensemble"], output_format="list",
                              filter_string=f"attributes.run_name = '{name}'")
    (run,) = runs
    report = mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/report.json")
    return run, report


def test_ensemble_is_evaluated_against_members_logged_registered_and_exported(store, tmp_path, capsys):
    from melanoma_exp.export.registry import export_model

    uri, (a, b), _ = store
    code = main(["ensemble", a, f"runs:/{b}/model", "--weights", "1", "3", "--register", "ens",
                 "--bootstrap", "100", "--run-name", "two", "--tracking-uri", uri,
                 "--artifacts", str(store[2] / "ensemble-artifacts")])
    out = capsys.readouterr().out
    assert code == 0 and "member 0" in out and "ensemble" in out and "not a medical device" in out
    assert "ensemble calibration on validation: temperature" in out and "threshold chosen on validation" in out
    run, report = _ensemble_run(uri, "two")
    assert report["ensemble"]["weights"] == pytest.approx([0.25, 0.75])
    assert len(report["ensemble"]["members"]) == 2 and report["clinical"]["operating_point"]["chosen_on"] == "val"
    assert report["threshold"] == report["clinical"]["threshold"]
    assert {"test/auc", "member0/auc", "member1/auc", "calibration/temperature", "val/threshold"} <= set(run.data.metrics)

    bundle = export_model("models:/ens@champion", tmp_path / "bundle", tracking_uri=uri, log_to_run=False)
    spec = json.loads((bundle / "model.json").read_text())
    assert spec["decision_threshold"] == report["threshold"] and (bundle / "model.tflite").is_file()
    # the ensemble's own temperature travels like a single model's: built in, stated in model.json
    calibration = spec["clinical"]["calibration"]
    assert calibration["temperature"] == report["clinical"]["calibration"]["temperature"]
    assert calibration["applied_in_model"] is True


def test_ensemble_of_a_model_with_itself_scores_like_the_model(store, capsys):
    uri, (a, _), _ = store
    assert main(["ensemble", a, a, "--bootstrap", "100", "--run-name", "self", "--tracking-uri", uri,
                 "--artifacts", str(store[2] / "ensemble-artifacts")]) == 0
    _, report = _ensemble_run(uri, "self")
    members = report["ensemble"]["members"]
    assert report["test"]["auc"] == pytest.approx(members[0]["auc"]) == pytest.approx(members[1]["auc"])


def test_unknown_member_is_a_readable_error(store, capsys):
    uri, _, _ = store
    assert main(["ensemble", "models:/nope@champion", "--tracking-uri", uri]) == 1
    assert "cannot resolve 'models:/nope@champion'" in capsys.readouterr().err
