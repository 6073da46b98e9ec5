"""`melanoma evaluate MODEL [OVERRIDES ...]`: a trained model on another dataset (the domain gap).

A model trained on synthetic lesions and tested on synthetic lesions says nothing about real skin;
this puts any registered model or run in front of any prepared source (Hydra data overrides, e.g.
`data=isic_sample` or `data=synthetic`) and prints the test AUC with its bootstrap interval and the
sensitivity/specificity at the model's own decision threshold and at 0.5, each line naming the data
the model was trained on and the data it is judged on. Research tool, not medical advice.
"""

from __future__ import annotations

import argparse
import json

from melanoma_exp import DISCLAIMER
from melanoma_exp.commands.registry import default_tracking_uri, guarded
from melanoma_exp.config import compose
from melanoma_exp.evaluation.report import auc_text, rate_text
from melanoma_exp.export.registry import load_report, resolve_model


def cross_evaluate(model, report: dict, data_cfg, split: str, *, n_resamples: int, seed: int = 0) -> dict:
    """Score `model` on `split` of the prepared `data_cfg` (prepared first when needed).

    Returns:
        ``{"trained_on", "evaluated_on", "split", "auc" (auc_with_ci), "at_threshold", "at_0.5"}``.
    """
    from melanoma_exp.data.prepare import prepare_dataset
    from melanoma_exp.data.synth import ensure_synthetic_raw
    from melanoma_exp.evaluation.evaluate import predict_split
    from melanoma_exp.evaluation.operating_point import auc_with_ci, evaluate_at_threshold
    from melanoma_exp.evaluation.report import data_line, manifest_summary

    ensure_synthetic_raw(data_cfg, progress=False)  # a synthetic source is generated when missing
    prepared = prepare_dataset(data_cfg, progress=False)
    _, labels, probability, _ = predict_split(model, prepared, split, int(data_cfg.batch_size))
    threshold = float(report.get("threshold", 0.5))
    return {
        "trained_on": data_line(report.get("data") or {}),
        "evaluated_on": data_line(manifest_summary(prepared), len(labels)),
        "split": split,
        "auc": auc_with_ci(labels, probability, n_resamples=n_resamples, seed=seed),
        "at_threshold": evaluate_at_threshold(labels, probability, threshold, n_resamples=n_resamples, seed=seed),
        "at_0.5": evaluate_at_threshold(labels, probability, 0.5, n_resamples=n_resamples, seed=seed),
    }


def describe(result: dict) -> str:
    """Human-readable lines for a `cross_evaluate` result."""
    auc = result["auc"]
    lines = [f"model {result['trained_on'].removeprefix('data: ')}",
             f"judged on the {result['split']} split of {result['evaluated_on'].removeprefix('data: ')}"]
    lines.append(f"{auc_text(auc)}, {auc['n']} images ({auc['n_malignant']} malignant)")
    for key, name in (("at_threshold", "at the model's threshold"), ("at_0.5", "at 0.5")):
        r = result[key]
        lines.append(f"{name} t={r['threshold']:.3f}: {rate_text(r, 'sensitivity', with_ci=False)}, "
                     f"{rate_text(r, 'specificity', with_ci=False)}")
    lines.append(f"Note: {DISCLAIMER}")
    return "\n".join(lines)


def cmd_evaluate(args: argparse.Namespace) -> int:
    import mlflow

    uri = args.tracking_uri or default_tracking_uri()
    resolved = resolve_model(args.model, tracking_uri=uri)
    report = load_report(resolved.run_id, tracking_uri=uri)
    mlflow.set_tracking_uri(uri)
    model = mlflow.keras.load_model(resolved.model_uri)
    size = int(model.input_shape[1])
    cfg = compose([*args.overrides, f"data.image_size={size}"])  # the model's input size, always
    result = cross_evaluate(model, report, cfg.data, args.split, n_resamples=args.bootstrap)
    print(json.dumps(result) if args.json else describe(result))
    return 0


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "evaluate", help="score a registered model or run on another dataset (the domain gap)",
        description="Prepare the dataset that the Hydra data overrides compose (at the model's input size) and "
        "print AUC with a bootstrap CI and sensitivity/specificity at the model's threshold and at 0.5.")
    p.add_argument("model", help="models:/NAME@ALIAS, models:/NAME/VERSION, runs:/ID/model or a run id")
    p.add_argument("overrides", nargs="*", help="Hydra overrides choosing the data, e.g. data=isic_sample")
    p.add_argument("--split", default="test", choices=("train", "val", "test"), help="split to score (test)")
    p.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples for the CIs (1000)")
    p.add_argument("--json", action="store_true", help="print the result as one JSON object")
    p.add_argument("--tracking-uri", default=None,
                   help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or the project's store)")
    p.set_defaults(func=guarded(cmd_evaluate, also=(ValueError, FileNotFoundError)))
