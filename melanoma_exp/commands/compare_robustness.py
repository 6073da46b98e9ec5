"""`melanoma compare-robustness RUN RUN [...]`: runs trained with and without the capture preset.

Train both in one Hydra multirun, then compare (see docs/evaluation.md):

    python run.py -m +experiment=demo trainer.seed=0,1 +data.augment.capture=0,0.5
    melanoma compare-robustness --multirun last

Reads each run's report.json from MLflow, writes comparison.json / .md / .png (a table of median and
p95 swing, verdict flips, sensitivity, specificity, accuracy, AUC per run and per preset share, the
paired test and a plot), logs them to every compared run under ``robustness_comparison/`` with
``robustness_comparison/*_change`` metrics, and `melanoma export` of any of those runs adds the
comparison to the bundle's model.json and MODEL_CARD.md. Research tool, not medical advice.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import melanoma_exp.config as config
from melanoma_exp import DISCLAIMER
from melanoma_exp.commands.registry import default_tracking_uri, guarded
from melanoma_exp.evaluation.robustness_compare import (
    ARTIFACT_DIR,
    compare_robustness,
    effect_sentence,
    mlflow_metrics,
    write_comparison,
)
from melanoma_exp.export.registry import load_report, resolve_model
from melanoma_exp.training.checkpoints import Checkpoints


def multirun_run_ids(sweep_dir, sweeps_root=None) -> list[str]:
    """MLflow run ids of a Hydra multirun's jobs (``<sweep dir>/<job num>/checkpoints/state.json``).

    ``last`` picks the newest ``<sweeps_root>/<date>/<time>_<model>`` folder (default root:
    ``<paths.output_dir>/sweeps``, where `python run.py -m` writes).
    """

    folder = _newest_sweep(sweeps_root) if str(sweep_dir) == "last" else Path(sweep_dir)
    jobs = sorted((d for d in folder.iterdir() if d.is_dir() and d.name.isdigit()), key=lambda d: int(d.name)) \
        if folder.is_dir() else []
    ids = []
    for job in jobs:
        state = Checkpoints(job).load_state()
        if state is None or not state.finished or not state.mlflow_run_id:
            raise ValueError(f"multirun job {job} has no finished, tracked run (checkpoints/state.json)")
        ids.append(state.mlflow_run_id)
    if not ids:
        raise ValueError(f"{folder} holds no multirun jobs (numbered folders); pass the folder Hydra "
                         "printed for `python run.py -m ...`, or run ids")
    return ids


def _newest_sweep(root=None) -> Path:
    root = Path(root) if root else Path(str(config.compose([]).paths.output_dir)) / "sweeps"
    folders = sorted(root.glob("*/*"), key=lambda p: p.stat().st_mtime) if root.is_dir() else []
    if not folders:
        raise ValueError(f"no multirun folders under {root}")
    return folders[-1]


def _default_out() -> Path:
    return Path(str(config.compose([]).paths.output_dir)) / "comparisons" / time.strftime("robustness-%Y%m%d-%H%M%S")


def log_comparison(comparison: dict, files: dict[str, Path], run_ids: list[str], *, tracking_uri: str) -> None:
    """Log the comparison's files and change metrics to every compared run."""
    import mlflow


    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    metrics = mlflow_metrics(comparison)
    for run_id in run_ids:
        for path in files.values():
            client.log_artifact(run_id, str(path), ARTIFACT_DIR)
        for key, value in metrics.items():
            client.log_metric(run_id, key, value)
        client.set_tag(run_id, "robustness_comparison.runs", ", ".join(run_ids))


def cmd_compare(args: argparse.Namespace) -> int:
    uri = args.tracking_uri or default_tracking_uri()
    refs = list(args.runs) + (multirun_run_ids(args.multirun) if args.multirun else [])
    run_ids = [resolve_model(ref, tracking_uri=uri).run_id for ref in refs]
    comparison = compare_robustness({run_id: load_report(run_id, tracking_uri=uri) for run_id in run_ids})
    files = write_comparison(comparison, Path(args.out) if args.out else _default_out())
    print(files["markdown"].read_text(encoding="utf-8").split(f"_{DISCLAIMER}_")[0].rstrip())
    if not args.no_log:
        log_comparison(comparison, files, run_ids, tracking_uri=uri)
        print(f"logged to {len(run_ids)} runs under {ARTIFACT_DIR}/ ({uri})")
    print(f"wrote {files['json'].parent}")
    for effect in comparison["effects"]:
        if effect["costs_sensitivity"]:
            print(f"warning: {effect_sentence(effect)}", file=sys.stderr)
    print(DISCLAIMER)
    return 0


def register(subparsers) -> None:
    """Add `compare-robustness` to the `melanoma` command."""
    p = subparsers.add_parser("compare-robustness", help="compare runs trained with and without the capture preset",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="*", help="run ids (or runs:/ID/model, models:/NAME@ALIAS) to compare")
    p.add_argument("--multirun", metavar="DIR", default=None,
                   help="also compare every job of this Hydra multirun folder ('last': the newest one)")
    p.add_argument("--out", default=None, help="folder for comparison.json/.md/.png "
                   "(default: <paths.output_dir>/comparisons/robustness-<time>)")
    p.add_argument("--no-log", action="store_true", help="do not log the comparison to the runs in MLflow")
    p.add_argument("--tracking-uri", default=None,
                   help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI or the project's store)")
    p.set_defaults(func=guarded(cmd_compare, also=(ValueError,)))


