"""`melanoma compare-robustness` against a real MLflow store: the comparison is logged to every
compared run, a Hydra multirun folder names its runs, and the export puts it in the model card."""

import json

import pytest

from melanoma_exp.commands.main import main

from .robustness_runs import IMAGES, LABELS, brightness_predict, run_report


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """Runs logged like the trainer logs them (report.json): without / with the preset, one
    trained in a sweep (no robustness check) and one that never wrote a report."""
    import mlflow

    root = tmp_path_factory.mktemp("compare_store")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    exp = mlflow.create_experiment("capture", artifact_location=(root / "artifacts").as_uri())
    reports = {"plain": run_report(brightness_predict(12), 0.0),
               "capture": run_report(brightness_predict(40, 134), 0.5),
               "sweep_trial": {"test": {"sensitivity": 0.9}, "clinical": {"robustness": None}},
               "no_report": None}
    ids = {}
    for name, report in reports.items():
        with mlflow.start_run(experiment_id=exp, run_name=name) as run:
            if report is not None:
                mlflow.log_dict(report, "report.json")
            ids[name] = run.info.run_id
    return uri, ids, reports


def test_compare_writes_table_plot_and_logs_to_both_runs(store, tmp_path, capsys):
    import mlflow

    uri, ids, reports = store
    out = tmp_path / "cmp"
    assert main(["compare-robustness", ids["plain"], ids["capture"], "--out", str(out), "--tracking-uri", uri]) == 0
    printed = capsys.readouterr()
    assert "median swing (pp)" in printed.out and ids["plain"] in printed.out and "not a medical device" in printed.out
    assert "mean of" not in printed.out  # one run per setting: no mean rows
    comparison = json.loads((out / "comparison.json").read_text())
    assert [r["run"] for r in comparison["runs"]] == [ids["plain"], ids["capture"]]
    assert comparison["runs"][1]["swing_p95_pp"] == reports["capture"]["clinical"]["robustness"]["swing_pp"]["p95"]
    assert (out / "comparison.png").stat().st_size > 10000 and (out / "comparison.md").is_file()

    client = mlflow.MlflowClient(tracking_uri=uri)
    change = comparison["effects"][0]["swing_median_pp_change"]
    for run_id in ids["plain"], ids["capture"]:
        logged = {a.path for a in client.list_artifacts(run_id, "robustness_comparison")}
        assert logged == {f"robustness_comparison/comparison.{ext}" for ext in ("json", "md", "png")}
        run = client.get_run(run_id)
        assert run.data.metrics["robustness_comparison/swing_median_pp_change"] == pytest.approx(change)
        assert ids["capture"] in run.data.tags["robustness_comparison.runs"]


def test_a_multirun_folder_names_its_runs(store, tmp_path):
    from melanoma_exp.training.checkpoints import Checkpoints, RunState

    uri, ids, _ = store
    sweep = tmp_path / "sweeps" / "2026-11-26" / "01-00-00_efficientnetv2b0"
    for num, name in enumerate(("plain", "capture")):
        checkpoints = Checkpoints(sweep / str(num))
        checkpoints.save_state(RunState(epoch=2, finished=True, mlflow_run_id=ids[name]))
        checkpoints.last.write_bytes(b"")  # a finished run folder always holds a last checkpoint
    (sweep / "multirun.yaml").write_text("{}")
    out = tmp_path / "cmp"
    assert main(["compare-robustness", "--multirun", str(sweep), "--no-log", "--out", str(out),
                 "--tracking-uri", uri]) == 0
    runs = [r["run"] for r in json.loads((out / "comparison.json").read_text())["runs"]]
    assert runs == [ids["plain"], ids["capture"]]


def test_last_is_the_newest_multirun_folder(store, tmp_path):
    import os

    from melanoma_exp.commands.compare_robustness import multirun_run_ids
    from melanoma_exp.training.checkpoints import Checkpoints, RunState

    _, ids, _ = store
    for age, (folder, name) in enumerate([("10-00-00_b0", "plain"), ("09-00-00_b0", "capture")]):
        checkpoints = Checkpoints(tmp_path / "sweeps" / "2026-11-26" / folder / "0")
        checkpoints.save_state(RunState(finished=True, mlflow_run_id=ids[name]))
        checkpoints.last.write_bytes(b"")
        os.utime(checkpoints.dir.parent.parent, (1e9 + 100 * age, 1e9 + 100 * age))
    assert multirun_run_ids("last", sweeps_root=tmp_path / "sweeps") == [ids["capture"]]  # modified last


def test_a_run_without_robustness_report_is_named(store, tmp_path, capsys):
    uri, ids, _ = store
    for bad in ("sweep_trial", "no_report"):
        assert main(["compare-robustness", ids["plain"], ids[bad], "--out", str(tmp_path), "--tracking-uri", uri]) == 1
        assert f"run {ids[bad]} has no robustness report" in capsys.readouterr().err
    assert main(["compare-robustness", "--multirun", str(tmp_path / "nowhere"), "--tracking-uri", uri]) == 1
    assert "holds no multirun jobs" in capsys.readouterr().err
    from melanoma_exp.training.checkpoints import Checkpoints, RunState

    crashed = Checkpoints(tmp_path / "sweep" / "0")
    crashed.save_state(RunState(epoch=1, mlflow_run_id=ids["plain"]))  # killed before it finished
    crashed.last.write_bytes(b"")
    assert main(["compare-robustness", "--multirun", str(tmp_path / "sweep"), "--tracking-uri", uri]) == 1
    assert f"multirun job {tmp_path / 'sweep' / '0'} has no finished, tracked run" in capsys.readouterr().err


def test_export_adds_the_comparison_to_model_json_and_the_model_card(store, tmp_path):
    from melanoma_exp.export.bundle import build_model_json
    from melanoma_exp.export.model_card import render_model_card
    from melanoma_exp.export.registry import comparison_summary

    uri, ids, _ = store
    assert main(["compare-robustness", ids["plain"], ids["capture"], "--out", str(tmp_path / "c"),
                 "--tracking-uri", uri]) == 0
    spec = build_model_json({"name": "melanoma-classifier", "threshold": 0.4}, height=32, width=32)

    assert comparison_summary(ids["sweep_trial"], uri) is None  # never compared
    assert "measured effect" not in render_model_card(spec)
    entry = comparison_summary(ids["capture"], uri)
    assert entry["this_model_capture_preset"] == 0.5
    card = render_model_card({**spec, "robustness_comparison": entry})
    assert "This model trained with the capture preset on 50% of images" in card and "Not medical advice" in card


@pytest.mark.slow  # exports a tiny Keras model to LiteRT (~10 s on 2 cores)
def test_melanoma_export_of_the_preset_run_carries_the_comparison(store, tmp_path, monkeypatch):
    import mlflow

    from melanoma_exp.config import group_config
    from melanoma_exp.evaluation.clinical_report import clinical_evaluation
    from melanoma_exp.export import bundle as bundle_module
    from melanoma_exp.export import model_card
    from melanoma_exp.export.registry import export_model

    from .tiny_models import nested_classifier

    uri, ids, reports = store
    report = reports["capture"]
    p = brightness_predict(40, 134)(IMAGES)  # the full clinical section the export reads
    clinical = clinical_evaluation(LABELS, p, LABELS, p, group_config("eval", ["eval.bootstrap=100", "eval.calibration.enabled=false"]))
    report = {**report, "clinical": {**clinical, "robustness": report["clinical"]["robustness"]}}
    mlflow.set_tracking_uri(uri)
    with mlflow.start_run(experiment_id=mlflow.get_experiment_by_name("capture").experiment_id) as run:
        mlflow.log_dict(report, "report.json")
        mlflow.keras.log_model(nested_classifier(), name="model", pip_requirements=["keras"])
    assert main(["compare-robustness", ids["plain"], run.info.run_id, "--out", str(tmp_path / "c"),
                 "--tracking-uri", uri]) == 0
    writes = {"model.json": 0, "MODEL_CARD.md": 0}

    def counted(original, name):
        def wrapper(*args, **kwargs):
            writes[name] += 1
            return original(*args, **kwargs)
        return wrapper

    monkeypatch.setattr(bundle_module, "write_model_json", counted(bundle_module.write_model_json, "model.json"))
    monkeypatch.setattr(bundle_module, "render_model_card", counted(model_card.render_model_card, "MODEL_CARD.md"))
    bundle = export_model(run.info.run_id, tmp_path / "bundle", tracking_uri=uri, log_to_run=False)
    assert writes == {"model.json": 1, "MODEL_CARD.md": 1}  # every summary gathered first, written once
    card = (bundle / "MODEL_CARD.md").read_text()
    assert "## Capture augmentation preset: measured effect" in card and "(this model)" in card
    assert json.loads((bundle / "model.json").read_text())["robustness_comparison"]["runs"][1] == run.info.run_id
