"""MLflow tracking behind a tiny interface, so `tracking=none` is a no-op object, not `if`s.

The store defaults to SQLite + an artifact folder at absolute paths under `paths.output_dir`
(MLflow's own defaults are relative to the cwd). `$MLFLOW_TRACKING_URI`, when set, wins.
"""

from __future__ import annotations

import os
import re
from importlib import metadata
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

import melanoma_exp.config as config

# The Keras flavour's requirements, given explicitly: inferring them costs seconds per run.
_MODEL_PACKAGES = ("keras", "numpy", "pillow")
_BACKEND_PACKAGES = {"tensorflow": ("tensorflow",), "jax": ("jax", "jaxlib")}  # per Keras backend
_MLFLOW_LIMIT = 100  # params per log_batch call


def resolve_tracking_uri(tracking_cfg: Any) -> str:
    """`$MLFLOW_TRACKING_URI` if set, else `tracking.tracking_uri` (absolute SQLite by default)."""
    uri = os.environ.get("MLFLOW_TRACKING_URI") or str(tracking_cfg.tracking_uri)
    if uri.startswith("sqlite:///"):
        Path(uri[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    return uri


def experiment_id(client: Any, name: str, artifact_location: str | None) -> str:
    """The id of experiment `name`, created with an absolute artifact location when missing.

    Every experiment the project creates goes through here: MLflow's own default location is
    `./mlruns`, relative to whatever the cwd happens to be.
    """
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    location = artifact_location
    if location and not re.match(r"[A-Za-z][A-Za-z0-9+.-]+:/", str(location)):  # a path, not a URI
        Path(location).mkdir(parents=True, exist_ok=True)
        location = Path(location).resolve().as_uri()
    return client.create_experiment(name, artifact_location=location)


def artifact_location(tracking: Any) -> str | None:
    """`tracking.artifact_location` as a string, or None (MLflow's default) when unset or empty."""
    value = tracking.get("artifact_location")
    return None if value is None or str(value) == "" else str(value)


def project_store() -> tuple[str, str | None]:
    """(tracking URI, artifact location) of the project's MLflow store, for commands outside a run."""

    tracking = config.compose(["tracking=mlflow"]).tracking
    return resolve_tracking_uri(tracking), artifact_location(tracking)


def flatten(node: Any, prefix: str = "") -> dict[str, str]:
    """`{"a": {"b": 1}}` -> `{"a.b": "1"}` (MLflow params are flat strings)."""
    out: dict[str, str] = {}
    if isinstance(node, dict):
        for key, value in node.items():
            out.update(flatten(value, f"{prefix}{key}."))
    else:
        out[prefix[:-1]] = str(node)[:6000]
    return out


def model_requirements() -> list[str]:
    """Pinned requirements of a logged Keras model (its backend's packages first), from the
    installed versions."""
    import keras

    reqs = []
    for name in (*_BACKEND_PACKAGES.get(keras.backend.backend(), ()), *_MODEL_PACKAGES):
        try:
            reqs.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            continue
    return reqs


class NullTracker:
    """`tracking=none`: every call is accepted and ignored."""

    run_id: str | None = None

    def start(self, cfg: DictConfig, *, run_name: str, tags: dict, resume_run_id: str | None = None):
        return None

    def log_params(self, params: dict) -> None: ...

    def log_metrics(self, metrics: dict, step: int | None = None) -> None: ...

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None: ...

    def logged_steps(self, key: str) -> set[int]:
        return set()

    def set_tags(self, tags: dict) -> None: ...

    def log_model(self, model) -> None: ...

    def end(self, status: str = "FINISHED") -> None: ...


class MlflowTracker(NullTracker):
    """One MLflow run: params, per-epoch metrics, artifacts, the Keras model."""

    def __init__(self, tracking_cfg: Any):
        import mlflow

        self.mlflow = mlflow
        self.cfg = tracking_cfg
        self.uri = resolve_tracking_uri(tracking_cfg)
        self.client = mlflow.MlflowClient(tracking_uri=self.uri)
        self.run_id = None

    def _experiment_id(self) -> str:
        return experiment_id(self.client, str(self.cfg.experiment_name), artifact_location(self.cfg))

    def start(self, cfg: DictConfig, *, run_name: str, tags: dict, resume_run_id: str | None = None):
        """Start (or re-open, when resuming) the run; log the resolved config. Returns the run id."""
        self.mlflow.set_tracking_uri(self.uri)
        if resume_run_id:
            run = self.mlflow.start_run(run_id=resume_run_id)
        else:
            run = self.mlflow.start_run(
                experiment_id=self._experiment_id(), run_name=run_name, tags=tags
            )
        self.run_id = run.info.run_id
        if not resume_run_id:
            container = OmegaConf.to_container(cfg, resolve=True)
            self.log_params(flatten(container))
            self.mlflow.log_text(OmegaConf.to_yaml(cfg, resolve=True), "config.yaml")
        return self.run_id

    def log_params(self, params: dict) -> None:
        items = list(params.items())
        for start in range(0, len(items), _MLFLOW_LIMIT):
            self.mlflow.log_params(dict(items[start : start + _MLFLOW_LIMIT]))

    def log_metrics(self, metrics: dict, step: int | None = None) -> None:
        self.mlflow.log_metrics({k: float(v) for k, v in metrics.items()}, step=step)

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        path = Path(path)
        if path.is_dir():
            self.mlflow.log_artifacts(str(path), artifact_path)
        elif path.is_file():
            self.mlflow.log_artifact(str(path), artifact_path)

    def logged_steps(self, key: str) -> set[int]:
        """Steps of metric `key` already in this run (to fill gaps after an interruption)."""
        return {m.step for m in self.client.get_metric_history(self.run_id, key)}

    def set_tags(self, tags: dict) -> None:
        self.mlflow.set_tags({k: str(v) for k, v in tags.items()})

    def log_model(self, model) -> None:
        if self.cfg.log_model:
            import mlflow.keras
            import numpy as np
            from mlflow.models import infer_signature

            # 0-255 float32 RGB in, P(malignant) out (contract 4); a one-image example is enough.
            example = np.zeros((1, *model.input_shape[1:]), dtype=np.float32)
            signature = infer_signature(example, np.zeros((1, 1), dtype=np.float32))
            mlflow.keras.log_model(
                model, name="model", pip_requirements=model_requirements(), signature=signature
            )

    def end(self, status: str = "FINISHED") -> None:
        if self.mlflow.active_run() is not None:
            self.mlflow.end_run(status=status)


def make_tracker(tracking_cfg: Any) -> NullTracker:
    """`tracking.backend`: ``mlflow`` -> `MlflowTracker`, ``none`` -> `NullTracker`."""
    backend = tracking_cfg.backend
    if backend == "none":
        return NullTracker()
    if backend == "mlflow":
        return MlflowTracker(tracking_cfg)
    raise ValueError(f"tracking.backend={backend!r}: must be 'mlflow' or 'none'")
