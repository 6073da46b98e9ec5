"""`melanoma ensemble REF [REF ...]`: a soft-voting ensemble of registered models or runs.

Loads the members, evaluates the ensemble against each member on the same validation/test splits
(the members' prepared dataset, from their report.json), fits the ensemble's own temperature and
chooses its threshold on validation like a training run does, and logs it as a new MLflow run with
``model`` and ``report.json`` — so `melanoma register RUN_ID` / `--register`, `melanoma export` and
serving treat it like any model. Research tool, not medical advice.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from melanoma_exp import DISCLAIMER
from melanoma_exp.commands.registry import default_tracking_uri, guarded
from melanoma_exp.config import group_config
from melanoma_exp.export.registry import load_report, register_run, resolve_model
from melanoma_exp.tracking.tracker import experiment_id, model_requirements, project_store


def _prepared_dir(reports: list[dict], override: str | None) -> Path:
    """The members' shared prepared dataset (or ``--prepared``), with a clear error otherwise."""
    if override:
        return Path(override)
    dirs = {(r.get("data") or {}).get("prepared_dir") for r in reports}
    if None in dirs or len(dirs) != 1:
        raise ValueError(
            "ensemble members must be evaluated on one prepared dataset; their reports name "
            f"{sorted(map(str, dirs))}. Pass --prepared DIR to choose it."
        )
    return Path(dirs.pop())


def _predict(model, prepared: Path, split: str, batch: int) -> np.ndarray:
    from melanoma_exp.data.pipeline import make_dataset

    return model.predict(make_dataset(prepared, split, batch_size=batch, training=False), verbose=0).reshape(-1)


def evaluate_ensemble(members, reports: list[dict], weights, prepared: Path, *, batch: int = 32,
                      eval_overrides: dict | None = None) -> tuple[Any, dict]:
    """Build the ensemble and its report (ensemble vs each member on the same splits)."""
    from omegaconf import OmegaConf
    from sklearn.metrics import roc_auc_score

    from melanoma_exp.data.pipeline import load_split_index
    from melanoma_exp.evaluation.calibration import fold_temperature
    from melanoma_exp.evaluation.clinical_report import clinical_evaluation, served_probabilities
    from melanoma_exp.evaluation.ensemble import build_ensemble, normalise_weights
    from melanoma_exp.evaluation.metrics import baseline_probability, classification_metrics
    from melanoma_exp.evaluation.operating_point import sensitivity_specificity

    ensemble = build_ensemble(members, weights)
    y_val = load_split_index(prepared, "val")["label"].to_numpy()
    test_index = load_split_index(prepared, "test")
    y_test = test_index["label"].to_numpy()
    eval_cfg = group_config("eval")
    for key, value in (eval_overrides or {}).items():
        OmegaConf.update(eval_cfg, key, value)
    # Averaging calibrated members does not give calibrated probabilities (the mean is less
    # extreme than its members), so the ensemble gets its own temperature and operating point on
    # validation, exactly as a training run: the temperature is folded into its last layer, the
    # threshold is on that served scale.
    p_test = _predict(ensemble, prepared, "test", batch)
    clinical = clinical_evaluation(y_val, _predict(ensemble, prepared, "val", batch), y_test, p_test, eval_cfg,
                                   test_index=test_index)
    if clinical["calibration"]:
        fold_temperature(ensemble, clinical["calibration"]["temperature"], inplace=True)
    p_test, threshold = served_probabilities(p_test, clinical), clinical["threshold"]
    rows = []
    for i, (member, report) in enumerate(zip(members, reports, strict=True)):
        p = _predict(member, prepared, "test", batch)
        t = float(report.get("threshold", 0.5))
        sens, spec = sensitivity_specificity(y_test, p, t)
        rows.append({"member": i, "auc": float(roc_auc_score(y_test, p)), "threshold": t,
                     "sensitivity": sens, "specificity": spec})
    y_train = load_split_index(prepared, "train")["label"].to_numpy()
    report = {
        "model": {"name": "ensemble", "image_size": int(ensemble.inputs[0].shape[1]), "weights": None},
        "data": dict(reports[0].get("data") or {}, prepared_dir=str(prepared)),
        "threshold": threshold,
        "test": classification_metrics(y_test, p_test, threshold),
        "baseline": classification_metrics(y_test, baseline_probability(y_train, len(y_test)), threshold),
        "clinical": clinical,
        "ensemble": {"weights": normalise_weights(weights, len(members)).tolist(), "members": rows},
        "disclaimer": DISCLAIMER,
    }
    return ensemble, report


def cmd_ensemble(args: argparse.Namespace) -> int:
    import mlflow

    from melanoma_exp.evaluation.clinical_report import mlflow_metrics
    from melanoma_exp.evaluation.metrics import scalar_metrics
    from melanoma_exp.evaluation.report import build_report

    uri = args.tracking_uri or default_tracking_uri()
    mlflow.set_tracking_uri(uri)
    resolved = [resolve_model(ref, tracking_uri=uri) for ref in args.models]
    members = [mlflow.keras.load_model(r.model_uri) for r in resolved]
    reports = [load_report(r.run_id, tracking_uri=uri) for r in resolved]
    ensemble, report = evaluate_ensemble(members, reports, args.weights, _prepared_dir(reports, args.prepared),
                                         eval_overrides={"bootstrap": args.bootstrap})
    report["ensemble"]["sources"] = [{"ref": ref, "run_id": r.run_id} for ref, r in zip(args.models, resolved,
                                                                                           strict=True)]
    report = build_report(**{k: report[k] for k in ("model", "data", "threshold", "test", "baseline")},
                          monitor={"name": None, "value": None, "epoch": None},
                          extra={"clinical": report["clinical"], "ensemble": report["ensemble"]})
    artifacts = args.artifacts or project_store()[1]
    experiment = experiment_id(mlflow.MlflowClient(tracking_uri=uri), args.experiment, artifacts)
    with mlflow.start_run(experiment_id=experiment, run_name=args.run_name,
                          tags={"ensemble.members": ", ".join(args.models), "disclaimer": DISCLAIMER}) as run:
        mlflow.log_params({"ensemble.size": len(members), "ensemble.weights": report["ensemble"]["weights"]})
        metrics = {**mlflow_metrics(report["clinical"]), **scalar_metrics(report["test"], "test")}
        for row in report["ensemble"]["members"]:
            metrics.update({f"member{row['member']}/{k}": v for k, v in row.items() if k != "member"})
        mlflow.log_metrics({k: float(v) for k, v in metrics.items() if v is not None and np.isfinite(v)})
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "report.json"
            path.write_text(json.dumps(report, indent=2))
            mlflow.log_artifact(str(path))
        mlflow.keras.log_model(ensemble, name="model", pip_requirements=model_requirements())
        run_id = run.info.run_id
    print(_table(report))
    print(f"ensemble logged as run {run_id}")
    if args.register:
        version = register_run(run_id, args.register, tracking_uri=uri)
        print(f"registered as {args.register} version {version}")
    print(DISCLAIMER)
    return 0


def _table(report: dict) -> str:
    lines = [f"{'model':<12}{'AUC':>8}{'threshold':>11}{'sensitivity':>13}{'specificity':>13}"]
    for row in report["ensemble"]["members"]:
        lines.append(f"{'member ' + str(row['member']):<12}{row['auc']:>8.3f}{row['threshold']:>11.3f}"
                     f"{row['sensitivity']:>13.3f}{row['specificity']:>13.3f}")
    t = report["test"]
    lines.append(f"{'ensemble':<12}{t['auc']:>8.3f}{report['threshold']:>11.3f}"
                 f"{t['sensitivity']:>13.3f}{t['specificity']:>13.3f}")
    op, cal = report["clinical"]["operating_point"], report["clinical"]["calibration"]
    lines.append(f"ensemble threshold chosen on validation ({op['method']}): validation sensitivity "
                 f"{op['sensitivity']:.3f}, specificity {op['specificity']:.3f}")
    if cal:
        val = cal["validation"]
        note = f"not applied: {cal['not_applied_reason']}" if cal.get("not_applied_reason") else "in the model"
        lines.append(f"ensemble calibration on validation: temperature {cal['temperature']:.3f} ({note}); ECE "
                     f"validation {val['before']['ece']:.3f} -> {val['after']['ece']:.3f}, test "
                     f"{cal['before']['ece']:.3f} -> {cal['after']['ece']:.3f}")
    return "\n".join(lines)


def register(subparsers) -> None:
    """Add `ensemble` to the `melanoma` command."""
    p = subparsers.add_parser("ensemble", help="soft-voting ensemble of registered models or runs",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="+", help="members: models:/NAME@ALIAS, models:/NAME/VERSION, runs:/ID/model or a run id")
    p.add_argument("--weights", type=float, nargs="+", default=None, help="one non-negative weight per member")
    p.add_argument("--prepared", default=None, help="prepared dataset to evaluate on (default: the members')")
    p.add_argument("--experiment", default="melanoma-ensemble", help="MLflow experiment (melanoma-ensemble)")
    p.add_argument("--run-name", default="ensemble", help="MLflow run name")
    p.add_argument("--register", metavar="NAME", default=None, help="also register the ensemble under NAME")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the CIs (1000)")
    p.add_argument("--tracking-uri", default=None,
                   help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or the project's store)")
    p.add_argument("--artifacts", default=None,
                   help="artifact location of a new --experiment (default: tracking.artifact_location)")
    p.set_defaults(func=guarded(cmd_ensemble, also=(ValueError,)))


