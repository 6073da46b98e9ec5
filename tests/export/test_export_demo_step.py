"""The demo's export step on a real store: register (champion when best), export to outputs/bundle."""

from __future__ import annotations

import json

from omegaconf import OmegaConf

from melanoma_exp.export.demo_step import step_export
from melanoma_exp.export.registry import champion_version


def test_step_export_registers_and_exports_the_champion(mlflow_store, tmp_path, monkeypatch):
    uri, runs = mlflow_store
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    cfg = OmegaConf.create({"tracking": {"backend": "mlflow", "tracking_uri": uri,
                                         "registered_model_name": "demo-step"},
                            "paths": {"output_dir": str(tmp_path / "outputs")}})
    for run_id in (runs[0], runs[2]):  # auc 0.70 then 0.60: the first stays champion
        run_dir = tmp_path / run_id
        (run_dir / "checkpoints").mkdir(parents=True)
        (run_dir / "checkpoints" / "state.json").write_text(json.dumps({"mlflow_run_id": run_id}))
        state = step_export({"cfg": cfg, "run_dir": str(run_dir)})
    assert champion_version("demo-step", tracking_uri=uri) == "1"
    spec = json.loads((state["bundle_dir"] / "model.json").read_text())
    assert spec["name"] == "demo-step" and spec["version"] == "1" and spec["source_run_id"] == runs[0]
    assert state["bundle_dir"] == tmp_path / "outputs" / "bundle"
