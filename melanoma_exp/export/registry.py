"""MLflow model registry: register a run's model, promote with the `champion` alias, export bundles.

Aliases, not the deprecated stages: `models:/NAME@champion` always names the served model. All
functions take an optional ``tracking_uri``; without it they use MLflow's current one (the trainer
sets it before calling `register_run`, the CLI resolves it from the project's tracking config).
"""

from __future__ import annotations

import json
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from melanoma_exp.evaluation.robustness_compare import ARTIFACT_DIR, card_summary
from melanoma_exp.export.bundle import export_bundle, meta_from_report

DEFAULT_MODEL_NAME = "melanoma-classifier"
CHAMPION = "champion"
DEFAULT_PROMOTE_METRIC = "test/auc"
_RUN_ID = re.compile(r"^[0-9a-f]{32}$")


class RegistryError(RuntimeError):
    """A registry lookup failed; the message says what was asked and what exists."""


@dataclass(frozen=True)
class ResolvedModel:
    """Where a model reference points: loadable URI plus its run and registry coordinates."""

    model_uri: str
    run_id: str
    name: str | None
    version: str | None


def _client(tracking_uri: str | None = None):
    import mlflow

    return mlflow.MlflowClient(tracking_uri=tracking_uri or mlflow.get_tracking_uri())


def register_run(run_id: str, name: str = DEFAULT_MODEL_NAME, *, tracking_uri: str | None = None,
                 auto_promote_metric: str | None = None, promote_if_first: bool = True) -> str:
    """Register the model logged as ``model`` in run ``run_id`` under ``name``.

    Args:
        run_id: MLflow run that logged the model with `mlflow.keras.log_model(name="model")`.
        name: registered model name.
        auto_promote_metric: when set, make the new version champion if it beats the current one
            on this run metric (or if there is no champion yet); see `auto_promote`.
        promote_if_first: a name's first registered version becomes champion, so `make demo`
            followed by `make serve` works; later versions move the alias only when asked.

    Returns:
        The new version number as a string.
    """
    import mlflow

    client = _client(tracking_uri)
    try:
        run = client.get_run(run_id)
    except Exception as exc:
        raise RegistryError(f"no MLflow run {run_id!r} in {client.tracking_uri}") from exc
    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    version = mlflow.register_model(_logged_model_uri(run), name).version
    client.set_model_version_tag(name, str(version), "source_run_id", run_id)
    if auto_promote_metric:
        auto_promote(name, str(version), metric=auto_promote_metric, tracking_uri=tracking_uri)
    elif promote_if_first and str(version) == "1":
        promote(name, "1", tracking_uri=tracking_uri)
    return str(version)


def _logged_model_uri(run) -> str:
    """MLflow 3 keeps logged models outside the run's artifacts: find the run's model named "model"."""
    import mlflow

    models = mlflow.search_logged_models(
        experiment_ids=[run.info.experiment_id],
        filter_string=f"source_run_id = '{run.info.run_id}' AND name = 'model'",
        output_format="list",
    )
    if not models:
        raise RegistryError(f"run {run.info.run_id} logged no model named 'model' "
                            "(the trainer logs it when tracking.log_model=true)")
    return f"models:/{models[0].model_id}"


def promote(name: str, version: str | int, *, tracking_uri: str | None = None) -> None:
    """Point the ``champion`` alias of ``name`` at ``version``."""
    client = _client(tracking_uri)
    try:
        client.get_model_version(name, str(version))
    except Exception as exc:
        known = [str(mv.version) for mv in client.search_model_versions(f"name='{name}'")]
        raise RegistryError(f"model {name!r} has no version {version}; known versions: "
                            f"{', '.join(sorted(known, key=int)) or 'none'}") from exc
    client.set_registered_model_alias(name, CHAMPION, str(version))


def champion_version(name: str, *, tracking_uri: str | None = None) -> str | None:
    """The version the ``champion`` alias points at, or None."""
    client = _client(tracking_uri)
    try:
        return str(client.get_model_version_by_alias(name, CHAMPION).version)
    except Exception:
        return None


def run_metric(name: str, version: str, metric: str, *, tracking_uri: str | None = None) -> float | None:
    """A metric of the run that produced ``name``/``version`` (None if it was not logged)."""
    client = _client(tracking_uri)
    run_id = client.get_model_version(name, str(version)).run_id
    return client.get_run(run_id).data.metrics.get(metric)


def auto_promote(name: str, version: str, *, metric: str = DEFAULT_PROMOTE_METRIC,
                 greater_is_better: bool = True, tracking_uri: str | None = None) -> bool:
    """Make ``version`` champion if it beats the current champion on ``metric``.

    A version without the metric never replaces a champion; with no champion yet it becomes one.
    Returns True when the alias moved.
    """
    current = champion_version(name, tracking_uri=tracking_uri)
    if current == str(version):
        return False
    new_value = run_metric(name, version, metric, tracking_uri=tracking_uri)
    if current is not None:
        old_value = run_metric(name, current, metric, tracking_uri=tracking_uri)
        if new_value is None:
            return False
        if old_value is not None:
            better = new_value > old_value if greater_is_better else new_value < old_value
            if not better:
                return False
    promote(name, version, tracking_uri=tracking_uri)
    return True


def resolve_model(ref: str, *, tracking_uri: str | None = None) -> ResolvedModel:
    """Resolve ``models:/NAME@ALIAS``, ``models:/NAME/VERSION``, ``runs:/RUN/model`` or a bare run id."""
    client = _client(tracking_uri)
    if _RUN_ID.match(ref):
        return ResolvedModel(f"runs:/{ref}/model", ref, None, None)
    if ref.startswith("runs:/"):
        return ResolvedModel(ref, ref[len("runs:/"):].split("/")[0], None, None)
    if ref.startswith("models:/"):
        target = ref[len("models:/"):]
        try:
            if "@" in target:
                name, alias = target.split("@", 1)
                mv = client.get_model_version_by_alias(name, alias)
            elif "/" in target:
                name, version = target.split("/", 1)
                mv = client.get_model_version(name, version)
            else:
                raise RegistryError(f"{ref!r}: use models:/NAME@ALIAS or models:/NAME/VERSION")
        except RegistryError:
            raise
        except Exception as exc:
            names = [m.name for m in client.search_registered_models()]
            raise RegistryError(f"cannot resolve {ref!r} in {client.tracking_uri}. Registered models: "
                                f"{', '.join(names) or 'none'} (register one with `melanoma register RUN_ID`, "
                                "then `melanoma promote NAME VERSION`)") from exc
        return ResolvedModel(f"models:/{name}/{mv.version}", mv.run_id, name, str(mv.version))
    raise RegistryError(f"{ref!r} is not a model URI or run id (models:/NAME@champion, runs:/ID/model, ID)")


def run_json(run_id: str, artifact_path: str, *, tracking_uri: str | None = None) -> Any | None:
    """A JSON artifact of a run, parsed; None when the run has no such file."""
    import mlflow

    with tempfile.TemporaryDirectory(prefix="artifact-") as tmp:
        try:
            path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=artifact_path,
                                                       dst_path=tmp, tracking_uri=tracking_uri)
        except Exception:  # MLflow raises several types for a missing artifact
            return None
        return json.loads(Path(path).read_text(encoding="utf-8"))


def load_report(run_id: str, *, tracking_uri: str | None = None) -> dict[str, Any]:
    """The run's ``report.json`` (empty dict, with a warning, if the run has none)."""
    report = run_json(run_id, "report.json", tracking_uri=tracking_uri)
    if report is None:
        print(f"warning: run {run_id} has no report.json; model.json will lack test metrics")
        return {}
    return report


def export_model(ref: str, out_dir: str | Path, *, tracking_uri: str | None = None,
                 log_to_run: bool = True, tta: list[str] | None = None) -> Path:
    """Export a registered model (or a run's model) as a bundle, and log the bundle back to its run.

    ``tta``: test-time augmentation transforms baked into the exported models (`export_bundle`).

    Returns:
        The bundle folder (contract 4).
    """
    import mlflow


    resolved = resolve_model(ref, tracking_uri=tracking_uri)
    if tracking_uri:
        mlflow.set_tracking_uri(tracking_uri)
    # compile=False: an inference model, so the bundle's model.keras has no optimizer state.
    model = mlflow.keras.load_model(resolved.model_uri, load_model_kwargs={"compile": False})
    report = load_report(resolved.run_id, tracking_uri=tracking_uri)
    meta = meta_from_report(report, name=resolved.name or DEFAULT_MODEL_NAME,
                            version=resolved.version or f"run-{resolved.run_id[:8]}",
                            source_run_id=resolved.run_id,
                            robustness_comparison=comparison_summary(resolved.run_id, tracking_uri))
    out = export_bundle(model, out_dir, meta=meta, tta=tta,
                        ood=ood_detector(resolved.run_id, report, tracking_uri))
    if log_to_run:
        _client(tracking_uri).log_artifacts(resolved.run_id, str(out), artifact_path="bundle")
    return out


def ood_detector(run_id: str, report: dict, tracking_uri: str | None) -> dict | None:
    """The not-a-lesion detector the run logged (``clinical/ood.json``), as `export_bundle`'s ``ood``."""
    if not (report.get("clinical") or {}).get("ood"):
        return None
    detector = run_json(run_id, "clinical/ood.json", tracking_uri=tracking_uri)
    if detector is None:  # an older run without the file: the bundle simply has no OOD check
        print(f"warning: run {run_id} has no clinical/ood.json; the bundle has no not-a-lesion check")
        return None
    return {"detector": detector, "layer_name": "backbone"}


def comparison_summary(run_id: str, tracking_uri: str | None) -> dict | None:
    """The run's `melanoma compare-robustness` result (capture preset vs none), if it was compared."""

    comparison = run_json(run_id, f"{ARTIFACT_DIR}/comparison.json", tracking_uri=tracking_uri)
    return None if comparison is None else card_summary(comparison, run_id)
