"""`make demo`: the whole flow on real dermoscopy (the shipped ISIC sample), step by step, on a laptop CPU.

`run_demo()` composes the project config (plus any overrides) and runs `DEMO_STEPS` in order. Each
step takes and returns a shared `state` dict (cfg, prepared_dir, ...), prints what it did, and the
next step builds on it. To extend the demo (training, evaluation, export, ...), write a function
`step_<name>(state) -> state` and append it to `DEMO_STEPS`.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence

import numpy as np

from melanoma_exp import DISCLAIMER
from melanoma_exp.commands.train import train
from melanoma_exp.config import compose
from melanoma_exp.console import quiet_native_logs
from melanoma_exp.evaluation.anchors import anchor_lines
from melanoma_exp.evaluation.report import auc_text, rate_text
from melanoma_exp.export.demo_step import step_export
from melanoma_exp.training.augmentation import split_settings
from melanoma_exp.training.runtime import resolve_run_dir, start_backend


def step_data(state: dict) -> dict:
    """Raw data (generated first only for a synthetic source) -> prepared dataset -> input pipeline."""
    from melanoma_exp.data.prepare import prepare_dataset
    from melanoma_exp.data.summary import describe_prepared
    from melanoma_exp.data.synth import ensure_synthetic_raw

    data = state["cfg"].data
    ensure_synthetic_raw(data)
    state["prepared_dir"] = prepare_dataset(data)
    print(describe_prepared(state["prepared_dir"], disclaimer=False))  # run_demo ends with it
    print(pipeline_summary(state["prepared_dir"], data))
    return state


def pipeline_summary(prepared_dir, data) -> str:
    """One pass over the training split as the trainer reads it (uint8 batches; `data.augment` runs
    inside the training step, only the ``capture`` preset on the host): shape, dtype, range, images/s."""
    from omegaconf import OmegaConf

    from melanoma_exp.data.pipeline import class_weight, make_dataset

    augment = OmegaConf.to_container(data.augment, resolve=True) if data.augment else None
    _, on_host = split_settings(augment)
    ds = make_dataset(prepared_dir, "train", batch_size=int(data.batch_size), training=True, augment=on_host,
                      seed=int(data.seed), balance=str(data.balance), images_dtype="uint8")
    start, n, low, high = time.perf_counter(), 0, 255.0, 0.0
    for images, labels in ds:
        images, labels = np.asarray(images), np.asarray(labels)
        if n == 0:
            shape, dtype, label_mean = tuple(images.shape), images.dtype.name, float(labels.mean())
        n += int(images.shape[0])
        low, high = min(low, float(images.min())), max(high, float(images.max()))
    seconds = time.perf_counter() - start
    weights = class_weight(prepared_dir, str(data.balance))
    return "\n".join([
        "input pipeline (train split, as the trainer reads it; augmentation runs in the training step):",
        f"  first batch {shape} {dtype}, values {low:.0f}..{high:.0f} (raw RGB 0..255; the model "
        f"normalises), malignant share {label_mean:.2f}",
        f"  one epoch: {n} images in {seconds:.1f} s ({n / seconds:.0f} images/s incl. start-up)",
        f"  balance: {data.balance}" + (f", class weights {weights}" if weights else ""),
    ])


def step_train(state: dict) -> dict:
    """Train the demo model (+experiment=demo), evaluate it on the test split, track it in MLflow."""

    cfg = state["cfg"]
    cfg.trainer.run_dir = str(resolve_run_dir(cfg))  # fixed now, so the summary knows where to look
    start = time.perf_counter()
    state["objective"] = train(cfg)
    state["train_seconds"] = time.perf_counter() - start
    state["run_dir"] = cfg.trainer.run_dir
    return state


def step_summary(state: dict) -> dict:
    """Model vs dummy baseline on the held-out test split, and where to look next."""
    import json
    from pathlib import Path

    from melanoma_exp.evaluation.report import summary_table

    run_dir = Path(state["run_dir"])
    report = json.loads((run_dir / "evaluation" / "report.json").read_text())
    state["report"] = report
    cfg = state["cfg"]
    clinical = report.get("clinical") or {}
    how = f" (chosen on validation: {clinical['operating_point']['method']})" if clinical else ""
    print(f"test split: {report['test']['n']} images; decision threshold {report['threshold']:.3f}{how}")
    print(summary_table(report))
    if clinical.get("test_auc"):
        print(headline(report))
    explain = report.get("explain") or {}
    if explain.get("marker_attention") is not None:
        print(f"Grad-CAM share on marker stickers (shortcut check): {explain['marker_attention']:.3f}, "
              f"{explain['marker_attention_lift']:.2f}x an even heatmap (1 = chance)")
    print(f"\ntrained in {state['train_seconds']:.0f} s; run folder: {run_dir}")
    print(f"  plots, report.json, predictions.csv, Grad-CAM: {run_dir / 'evaluation'}")
    if cfg.tracking.backend == "mlflow":
        print(f"MLflow experiment '{cfg.tracking.experiment_name}'. Open the UI with:  make ui")
        print("  then browse http://127.0.0.1:5000")
    return state


def headline(report: dict) -> str:
    """The test AUC with its bootstrap interval, sensitivity/specificity at the operating point and
    at 0.5 with theirs, and the published anchors beside them."""
    clinical = report["clinical"]
    auc, op, half = clinical["test_auc"], clinical["operating_point"], clinical["at_0.5"]
    kind = (report.get("data") or {}).get("kind", "the test split")
    return "\n".join([
        f"\ntest {auc_text(auc)} on {auc['n']} images ({auc['n_malignant']} malignant) of {kind}, "
        "none seen in training",
        f"  at the operating point t={op['threshold']:.3f} (chosen on validation): "
        f"{rate_text(op['test'], 'sensitivity')}, {rate_text(op['test'], 'specificity')}",
        f"  at 0.5 (argmax, as the thesis): {rate_text(half, 'sensitivity')}, {rate_text(half, 'specificity')}",
        "  a missed melanoma costs more than a false alarm: read sensitivity first",
        "published anchors (other data and sizes: read them as scale, not as a ranking):",
        *anchor_lines(),
    ])


# The demo, in order. Later steps (export, ...) append themselves here.
DEMO_STEPS: list[Callable[[dict], dict]] = [step_data, step_train, step_summary]


def _append_export_step() -> None:
    """Register the demo run (champion when best) and export outputs/bundle, so `make serve` works."""

    DEMO_STEPS.append(step_export)


_append_export_step()

# What `make demo` runs: the demo recipe (experiments/demo.yaml) plus any command-line overrides.
DEMO_OVERRIDES = ["+experiment=demo"]


def run_demo(overrides: Sequence[str] = ()) -> dict:
    """Compose the config with `overrides` and run every step of `DEMO_STEPS`; returns the state."""

    state: dict = {"cfg": compose(list(overrides))}
    print(start_backend(), flush=True)
    for step in DEMO_STEPS:
        title = (step.__doc__ or step.__name__).strip().splitlines()[0]
        print(f"\n== {step.__name__.removeprefix('step_')}: {title}", flush=True)
        state = step(state)
    print(f"\nNote: {DISCLAIMER}")
    return state


if __name__ == "__main__":
    quiet_native_logs()
    run_demo([*DEMO_OVERRIDES, *sys.argv[1:]])
