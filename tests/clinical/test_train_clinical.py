"""End to end through the real trainer: `python run.py ... eval=default` writes the clinical section,
logs it to MLflow and logs the *calibrated* model whose threshold the export carries."""

import json

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf

from melanoma_exp.paths import conf_dir


def eval_override() -> str:
    """`eval=default` once conf/config.yaml lists the group in its defaults, `+eval=default` before."""
    defaults = OmegaConf.to_container(OmegaConf.load(conf_dir() / "config.yaml")).get("defaults", [])
    listed = any(isinstance(d, dict) and "eval" in d for d in defaults)
    return "eval=default" if listed else "+eval=default"


@pytest.mark.slow
def test_training_run_reports_clinical_section_and_logs_calibrated_model(synthetic_raw, prepared_small, tmp_path,
                                                                         monkeypatch):
    import mlflow

    from melanoma_exp.config import compose
    from melanoma_exp.data.pipeline import make_dataset
    from melanoma_exp.export.bundle import build_model_json, meta_from_report
    from melanoma_exp.training import train

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    train(compose([
        "+experiment=smoke", f"data.raw_dir={synthetic_raw}", f"data.prepared_root={prepared_small.parent}",
        f"paths.output_dir={tmp_path / 'outputs'}", f"trainer.run_dir={tmp_path / 'run'}", "trainer.epochs=1",
        f"tracking.tracking_uri={uri}", f"tracking.artifact_location={tmp_path / 'artifacts'}",
        eval_override(), "eval.bootstrap=200", "eval.robustness.max_images=16", "eval.ood.n_non_lesion=60",
        "eval.ood.n_components=8",
    ]))
    report = json.loads((tmp_path / "run" / "evaluation" / "report.json").read_text())
    clinical = report["clinical"]
    assert report["threshold"] == clinical["threshold"] == clinical["operating_point"]["threshold"]
    assert clinical["operating_point"]["chosen_on"] == "val"
    assert {"calibration", "subgroups", "robustness", "ood"} <= set(clinical)
    assert report["test"]["sensitivity"] == pytest.approx(clinical["operating_point"]["test"]["sensitivity"])

    mlflow.set_tracking_uri(uri)
    (run,) = mlflow.search_runs(search_all_experiments=True, output_format="list")
    metrics = run.data.metrics
    assert metrics["val/threshold"] == pytest.approx(report["threshold"])
    assert {"test/sensitivity_at_threshold", "calibration/temperature", "robustness/swing_median_pp",
            "ood/auroc"} <= set(metrics)
    assert "clinical.flagged_subgroups" in run.data.tags
    clinical_files = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "clinical")}
    assert {"clinical/reliability.png", "clinical/operating_point.png", "clinical/ood.json",
            "clinical/clinical_model_card.md"} <= clinical_files

    # The logged model serves the calibrated probabilities that predictions.csv and the threshold use.
    (logged,) = mlflow.search_logged_models(experiment_ids=[run.info.experiment_id], output_format="list")
    model = mlflow.keras.load_model(logged.model_uri)
    served = model.predict(make_dataset(prepared_small, "test", batch_size=16, training=False), verbose=0).ravel()
    csv = pd.read_csv(tmp_path / "run" / "evaluation" / "predictions.csv")
    np.testing.assert_allclose(csv["malignant"], served, atol=1e-5)
    spec = build_model_json(meta_from_report(report), height=32, width=32)
    assert spec["decision_threshold"] == report["threshold"]
