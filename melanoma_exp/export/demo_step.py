"""The demo's last step: register the demo run's model, keep the best as champion, export the bundle.

`make demo` appends `step_export` to `melanoma_exp.commands.demo.DEMO_STEPS`, so `make serve` afterwards
finds `outputs/bundle` (or exports the champion) and just works.
"""

from __future__ import annotations

import json
from pathlib import Path

from melanoma_exp.export.bundle import bundle_files
from melanoma_exp.export.registry import (
    DEFAULT_PROMOTE_METRIC,
    champion_version,
    export_model,
    register_run,
)
from melanoma_exp.tracking.tracker import resolve_tracking_uri


def demo_run_id(run_dir: str | Path) -> str | None:
    """The MLflow run id the trainer recorded in ``run_dir/checkpoints/state.json`` (None if absent)."""
    state = Path(run_dir) / "checkpoints" / "state.json"
    if not state.is_file():
        return None
    return json.loads(state.read_text()).get("mlflow_run_id")


def _bundle_version(bundle: Path) -> tuple[str, str] | None:
    """(name, version) of the bundle in ``bundle``, or None (also for a bundle exported before
    model.json had ``explain``: it is exported again, with explain.tflite)."""
    try:
        spec = json.loads((bundle / "model.json").read_text())
    except (OSError, ValueError):
        return None
    if "explain" not in spec:
        return None
    return str(spec.get("name")), str(spec.get("version"))


def step_export(state: dict) -> dict:
    """Register the trained model (champion if best on test/auc) and export the champion bundle."""

    cfg = state["cfg"]
    if cfg.tracking.backend != "mlflow":
        print("tracking.backend is not mlflow: nothing to register; serve a bundle with --bundle DIR")
        return state
    run_id = state.get("mlflow_run_id") or demo_run_id(state["run_dir"])
    if not run_id:
        print(f"no MLflow run id recorded under {state['run_dir']}: skipping registration and export")
        return state
    uri = resolve_tracking_uri(cfg.tracking)
    name = str(cfg.tracking.registered_model_name)
    version = register_run(run_id, name, tracking_uri=uri, auto_promote_metric=DEFAULT_PROMOTE_METRIC)
    champion = champion_version(name, tracking_uri=uri)
    out = Path(str(cfg.paths.output_dir)) / "bundle"
    print(f"registered {name} version {version}; champion is version {champion} (best {DEFAULT_PROMOTE_METRIC})")
    if _bundle_version(out) == (name, champion):
        print(f"{out} already holds {name} v{champion}")
        state["bundle_dir"] = out
    else:
        state["bundle_dir"] = export_model(f"models:/{name}@champion", out, tracking_uri=uri)
    print(f"bundle: {out} ({bundle_files(out)})")
    print("serve it:  make serve   then open http://127.0.0.1:8000/")
    print("explain a photo:  melanoma explain samples/isic_uda1/ISIC_0000002.jpg   (where the model looked)")
    return state
