"""Grouped k-fold cross-validation end to end through the real trainer, and what each fold run
carries: the clinical section, MLflow nesting, the calibrated logged model, the model.json threshold."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from melanoma_exp.paths import project_root

# The not-a-lesion gate at its cheapest (32 px backbone input, one view, no method comparison): these runs
# check that each fold carries an OOD section and file; tests/clinical/test_ood_gate.py tests the gate.
CHEAP_OOD = ("eval.ood.gate.size=32", "eval.ood.gate.views=1", "eval.ood.n_objects=8", "eval.ood.compare=false",
             "eval.ood.crops_per_photo=2", "eval.ood.fresh_lesions.n=8")


def test_fold_datasets_keep_groups_whole_and_pixels_intact(prepared_small, tmp_path):
    from melanoma_exp.data.cv_data import fold_split_column, write_fold_dataset
    from melanoma_exp.data.kfold import assign_folds
    from melanoma_exp.data.pipeline import load_split_index, make_dataset

    index = pd.read_csv(prepared_small / "index.csv", dtype=str, keep_default_na=False)
    pool = index[index["split"] != "test"]
    folds = assign_folds(pool, 3, seed=1)
    split = fold_split_column(index, folds, 1)
    out = write_fold_dataset(prepared_small, split, tmp_path / "fold-1" / prepared_small.name, {"fold": 1})
    fold_index = pd.read_csv(out / "index.csv", dtype=str, keep_default_na=False)
    train, val = fold_index[fold_index["split"] == "train"], fold_index[fold_index["split"] == "val"]
    assert set(train["group"]).isdisjoint(val["group"])  # folds never share a group
    assert (fold_index.loc[index["split"] == "test", "split"] == "test").all()
    assert len(val) == (folds == 1).sum()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["val"]["total"] == len(val) and manifest["cv"]["fold"] == 1
    # its checksums describe its own shards and index.csv (the raw ones are the base folder's)
    from melanoma_exp.data.prepare import validate_prepared

    assert validate_prepared(out).problems == []

    # a val image of the fold is byte-identical to the same image in the base folder
    ids = list(load_split_index(out, "val")["isic_id"])
    fold_images = np.concatenate([x.numpy() for x, _ in make_dataset(out, "val", batch_size=64, training=False)])
    base_ids = {s: list(load_split_index(prepared_small, s)["isic_id"]) for s in ("train", "val")}
    source = "train" if ids[0] in base_ids["train"] else "val"
    base_images = np.concatenate([x.numpy() for x, _ in
                                  make_dataset(prepared_small, source, batch_size=64, training=False)])
    np.testing.assert_array_equal(fold_images[0], base_images[base_ids[source].index(ids[0])])


def test_run_py_dispatches_cv_and_rejects_one_fold(tmp_path):
    out = subprocess.run([sys.executable, "run.py", "+cv=kfold", "cv.folds=1", "tracking=none",
                          f"paths.output_dir={tmp_path}"],
                         cwd=project_root(), capture_output=True, text=True, timeout=300)
    assert out.returncode != 0 and "cv.folds must be >= 2, got 1" in out.stderr + out.stdout


def test_cv_checks_every_setting_before_any_data_work(tmp_path):
    from melanoma_exp.commands.cv import cross_validate
    from melanoma_exp.config import compose
    from melanoma_exp.training.validate import ConfigError

    cfg = compose(["+cv=kfold", "cv.folds=2", "tracking=none", "eval.target_sensitivity=1.5",
                   f"paths.data_dir={tmp_path}/data", f"paths.output_dir={tmp_path}/outputs"])
    with pytest.raises(ConfigError, match=r"eval\.target_sensitivity=1\.5"):
        cross_validate(cfg)
    assert not any(tmp_path.iterdir())  # nothing generated, prepared or trained


@pytest.mark.slow
@pytest.mark.timeout(900)  # two real folds, ~3 minutes on 2 free cores
def test_two_fold_cv_nests_runs_and_reports_mean_and_std(synthetic_raw, prepared_small, tmp_path, monkeypatch):
    import mlflow

    from melanoma_exp.commands.cv import cross_validate
    from melanoma_exp.config import compose
    from melanoma_exp.data.pipeline import make_dataset
    from melanoma_exp.export.bundle import build_model_json, meta_from_report
    from melanoma_exp.export.registry import export_model

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    objective = cross_validate(compose([
        "+experiment=smoke", f"data.raw_dir={synthetic_raw}", f"data.prepared_root={prepared_small.parent}",
        f"paths.output_dir={tmp_path / 'outputs'}", f"trainer.run_dir={tmp_path / 'run'}", "trainer.epochs=1",
        f"tracking.tracking_uri={uri}", f"tracking.artifact_location={tmp_path / 'artifacts'}",
        "+cv=kfold", "cv.folds=2", "cv.fold_checks=true", "eval.bootstrap=200", "eval.robustness.max_images=8",
        "eval.ood.n_non_lesion=40", "eval.ood.n_components=8", *CHEAP_OOD,
    ]))
    summary = json.loads((tmp_path / "run" / "cv_summary.json").read_text())
    objectives = [f["objective"] for f in summary["folds"]]
    assert objective == pytest.approx(np.mean(objectives))

    mlflow.set_tracking_uri(uri)
    runs = mlflow.search_runs(search_all_experiments=True, output_format="list")
    (parent,) = [r for r in runs if r.info.run_name.endswith("-cv2")]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert sorted(r.data.tags["cv.fold"] for r in children) == ["0", "1"]
    accuracies = [r.data.metrics["test/accuracy"] for r in children]
    assert parent.data.metrics["test/accuracy/mean"] == pytest.approx(np.mean(accuracies))
    assert parent.data.metrics["test/accuracy/std"] == pytest.approx(np.std(accuracies, ddof=1))
    assert parent.data.metrics["objective/mean"] == pytest.approx(objective)

    # Each fold is a complete clinical run: threshold chosen on its val fold, calibrated model logged.
    report = json.loads((tmp_path / "run" / "fold-0" / "evaluation" / "report.json").read_text())
    clinical = report["clinical"]
    assert report["threshold"] == clinical["threshold"] and clinical["operating_point"]["chosen_on"] == "val"
    assert {"calibration", "subgroups", "robustness", "ood"} <= set(clinical)
    child = next(r for r in children if r.data.tags["cv.fold"] == "0")
    assert child.data.metrics["val/threshold"] == pytest.approx(report["threshold"])
    files = {a.path for a in mlflow.MlflowClient().list_artifacts(child.info.run_id, "clinical")}
    assert {"clinical/reliability.png", "clinical/ood.json", "clinical/clinical_model_card.md"} <= files
    (logged,) = mlflow.search_logged_models(experiment_ids=[child.info.experiment_id], output_format="list",
                                            filter_string=f"source_run_id = '{child.info.run_id}'")
    served = mlflow.keras.load_model(logged.model_uri).predict(
        make_dataset(prepared_small, "test", batch_size=16, training=False), verbose=0).ravel()
    csv = pd.read_csv(tmp_path / "run" / "fold-0" / "evaluation" / "predictions.csv")
    np.testing.assert_allclose(csv["malignant"], served, atol=1e-5)
    assert build_model_json(meta_from_report(report), height=32, width=32)["decision_threshold"] == report["threshold"]

    # `melanoma export` of a fold's model carries the threshold and the not-a-lesion scorer.
    bundle = export_model(f"runs:/{child.info.run_id}/model", tmp_path / "bundle", tracking_uri=uri,
                          log_to_run=False)
    spec = json.loads((bundle / "model.json").read_text())
    assert spec["decision_threshold"] == report["threshold"]
    assert spec["clinical"]["calibration"]["applied_in_model"] is True
    assert spec["ood"]["quality_issue"] == "not_a_lesion" and (bundle / "ood.tflite").is_file()
    assert spec["clinical"]["robustness"]["trained_with_capture_preset"] == 0.0
    assert "trained without the capture augmentation preset" in (bundle / "MODEL_CARD.md").read_text()


def test_fold_config_inside_a_sweep_drops_the_trial_but_keeps_interpolations(tmp_path):
    from omegaconf import OmegaConf

    from melanoma_exp.commands.cv import fold_config
    from melanoma_exp.config import compose
    from melanoma_exp.sweep.trial import trial_from_config

    cfg = compose(["+experiment=smoke", "+sweep=optuna", "+cv=kfold", "sweep.trial_number=3",
                   "sweep.parent_run_id=abc", f"paths.output_dir={tmp_path}"])
    fold = fold_config(cfg, 1, tmp_path / "cv" / "fold-1", tmp_path / "run" / "fold-1")
    assert trial_from_config(fold) is None  # folds never report to the Optuna trial
    resolved = OmegaConf.to_container(fold.trainer, resolve=True)  # ${sweep.metric} still resolves
    assert resolved["monitor"] == cfg.sweep.metric
    assert fold.data.prepared_root == str(tmp_path / "cv" / "fold-1") and fold.cv is None
    assert fold.eval.robustness.enabled is False and fold.tracking.run_name.endswith("-fold1")
    assert cfg.sweep.trial_number == 3  # the parent's config is untouched
