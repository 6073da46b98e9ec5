"""The real trainer on a GPU: `python run.py` itself beside the bare Keras step of `gpu_benchmark`.

Run by `bench/gpu_trainer.sh` on a GPU machine (JAX, no TensorFlow needed). It trains the model on
generated synthetic data through run.py — the project's input pipeline (TensorFlow-free reader on
JAX), in-step augmentation, callbacks, checkpoints, unfreeze schedule — with `trainer.backend=jax`,
mixed precision, `tracking=none` and the whole network trainable from epoch 0 (`unfreeze=full`), then
times `gpu_benchmark.measure` (one fixed batch, no pipeline) at the same model, size, batch and
precision, and writes a markdown section:

    trainer img/s   = training images / `train/epoch_seconds` (fit + validation pass) over the
                      epochs after the first (the first one compiles), from the run's state.json
    bare-step img/s = gpu_benchmark's figure; the ratio is the share the trainer reaches (target >= 70 %)
    host CPU        = CPU seconds of the run.py process (user + system) over its wall time, in cores

    python -m bench.gpu_trainer --out $OUT/gpu_trainer.md                      # B3, 224 px, batch 64
    python -m bench.gpu_trainer --model efficientnetv2b0 --size 32 --n 200 --batch 16 --epochs 3  # a CPU dry run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODE = "mixed"  # mixed_float16: what trainer.mixed_precision=true sets


def run_overrides(args, work: Path) -> list[str]:
    """run.py's command line for the measurement (tests compose and validate it)."""
    return [
        f"model={args.model}", "model.weights=null", "trainer.backend=jax", "trainer.mixed_precision=true",
        "tracking=none", "eval.enabled=false", "trainer.gradcam.enabled=false", "unfreeze=full",
        "trainer.early_stopping.enabled=false", "trainer.reduce_lr.enabled=false", "data.balance=none",
        f"data.image_size={args.size}", f"data.batch_size={args.batch}", f"trainer.epochs={args.epochs}",
        f"data.synth.n={args.n}", f"data.synth.size={max(64, args.size + args.size // 8)}",
        f"data.raw_dir={work / 'raw'}", f"data.prepared_root={work / 'prepared'}",
        f"paths.output_dir={work / 'outputs'}", f"trainer.run_dir={work / 'run'}",
    ]


def train_through_run_py(args, work: Path) -> dict:
    """Run run.py once; return its per-epoch seconds, training images, wall and CPU time."""
    overrides = run_overrides(args, work)
    # generate + prepare first (no Keras), so the timed run is training only
    from melanoma_exp.config import compose
    from melanoma_exp.data.prepare import prepare_dataset
    from melanoma_exp.data.synth import ensure_synthetic_raw

    data_cfg = compose(overrides).data
    ensure_synthetic_raw(data_cfg)
    prepared = Path(prepare_dataset(data_cfg))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "run.py", *overrides, "trainer.resume=false"], cwd=ROOT, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    state = json.loads((work / "run" / "checkpoints" / "state.json").read_text())
    manifest = json.loads((prepared / "manifest.json").read_text())
    return {"epoch_seconds": [row["train/epoch_seconds"] for row in state["history"]],
            "train_images": int(manifest["counts"]["train"]["total"]), "wall": wall, "cpu": cpu}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu_trainer", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="efficientnetv2b3")
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--n", type=int, default=8000, help="synthetic images generated (64 %% train)")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--steps", type=int, default=40, help="timed steps of the bare-step comparison")
    parser.add_argument("--out", type=Path, help="also write the markdown section to this file")
    args = parser.parse_args(argv)
    if args.epochs < 2:
        parser.error("--epochs must be >= 2 (the first epoch compiles and is not counted)")
    return args


def main(argv: list[str] | None = None) -> str:
    args = parse_args(argv)
    os.environ["KERAS_BACKEND"] = "jax"
    with tempfile.TemporaryDirectory(prefix="gpu_trainer_") as tmp:
        run = train_through_run_py(args, Path(tmp))
    steady = run["epoch_seconds"][1:]
    trainer_img_s = run["train_images"] * len(steady) / sum(steady)

    from bench.gpu_benchmark import _device_name, _versions, measure

    bare = measure(args.model, args.size, args.batch, args.steps, MODE, frozen=False)
    ratio = trainer_img_s / bare["img_s"]
    cores = run["cpu"] / run["wall"]
    section = "\n".join([
        f"## GPU: the real trainer (run.py; {args.model}, {args.size} px, batch {args.batch}, {MODE}, JAX)", "",
        f"Measured by `bash bench/gpu_trainer.sh` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. Device: "
        f"{_device_name()}; {_versions()}; {os.cpu_count()} CPU cores. `python run.py` trained "
        f"{run['train_images']} synthetic training images per epoch for {args.epochs} epochs (whole network, "
        "BatchNormalization frozen as the trainer keeps it, in-step augmentation, TensorFlow-free reader); "
        "epochs after the first are counted, each including its validation pass.", "",
        "| | img/s | |", "|---|---:|---|",
        f"| trainer (`run.py`) | {trainer_img_s:.0f} | epochs 2-{args.epochs}: "
        + ", ".join(f"{s:.1f}" for s in steady) + " s |",
        f"| bare step (`gpu_benchmark`, {MODE}) | {bare['img_s']:.0f} | one fixed batch, no pipeline |",
        f"| **trainer / bare step** | **{ratio:.0%}** | target >= 70 % |", "",
        f"Host CPU while run.py trained: {run['cpu']:.0f} CPU s over {run['wall']:.0f} s wall = {cores:.1f} "
        f"of {os.cpu_count()} cores (start-up and compilation included). Python {platform.python_version()}.", "",
    ])
    if args.out:
        args.out.write_text(section, encoding="utf8")
    print(section)
    return section


if __name__ == "__main__":
    main()
