"""Sweep pruning: epochs spent and best value reached, with and without pruning.

The same study (the thesis's search space, 30 trials of 12 epochs, TPE seeded) is run through the
project's real sweeper plugin (`+sweep=optuna`: real Hydra multirun, real SQLite study, the
trainer's trial contract) once per pruner and seed: no pruning, the median pruner (the default,
first decision after the 2nd epoch), the median pruner with a longer warm-up, the percentile pruner (top quarter continues),
Hyperband, and the
thesis's threshold pruner (val/accuracy < 0.80 from epoch 5). Training is replaced by a
synthetic learning curve — accuracy rises towards a ceiling set by the hyper-parameters — so the
benchmark measures the sweep's decisions in seconds instead of GPU-days.

    python -m bench.bench_sweep                        # 3 seeds x 6 pruners, a few minutes
    python -m bench.bench_sweep --seeds 1 --pruners "median (default)"
    python -m bench.bench_sweep --seeds 5 --trials 30 --epochs 12
    python -m bench.bench_sweep --seeds 1 --trials 2 --epochs 2 --pruners "median (default)"  # smallest (smoke)
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PRUNERS = {
    "none": ["sweep.pruner.name=none"],
    "median (default)": ["sweep.pruner.name=median"],
    "median, warm-up 2": ["sweep.pruner.name=median", "sweep.pruner.warmup_epochs=2"],
    "percentile 25": ["sweep.pruner.name=percentile", "sweep.pruner.percentile=25"],
    "hyperband": ["sweep.pruner.name=hyperband"],
    "threshold (thesis)": ["sweep.pruner.name=threshold", "sweep.pruner.lower=0.80",
                           "sweep.pruner.warmup_epochs=4"],
}


def ceiling(cfg) -> float:
    """The accuracy a configuration would converge to (a smooth, thesis-like landscape)."""
    lr = math.log10(float(cfg.optimizer.learning_rate))
    score = 0.93 - 0.05 * (lr + 3.3) ** 2  # best near 5e-4
    score -= 0.25 * (float(cfg.head.dropout1) - 0.3) ** 2
    score -= 0.03 if str(cfg.optimizer._target_).endswith("SGD") else 0.0
    score -= 0.02 * abs(math.log2(int(cfg.head.units) / 512))
    score += 0.01 if cfg.head.batch_norm else 0.0
    return max(0.5, min(0.97, score))


def task() -> None:
    """The Hydra job: a learning curve reported epoch by epoch through the trial contract."""
    import hydra
    import optuna

    import melanoma_exp.config  # noqa: F401
    from melanoma_exp.sweep.trial import trial_from_config

    @hydra.main(version_base="1.3", config_path="../conf", config_name="config")
    def job(cfg) -> float:
        handle = trial_from_config(cfg)
        top, best = ceiling(cfg), 0.0
        for epoch in range(int(cfg.trainer.epochs)):
            value = 0.5 + (top - 0.5) * (1.0 - math.exp(-(epoch + 1) / 3.0))
            best = max(best, value)
            handle.report(value, epoch)
            if handle.should_prune():
                raise optuna.TrialPruned()
        return best

    job()


def _sweep(workdir: Path, name: str, seed: int, trials: int, epochs: int, extra: list[str]):
    import optuna

    cmd = [sys.executable, "-m", "bench.bench_sweep", "task", "+sweep=optuna", "tracking=none",
           f"paths.output_dir={workdir}", f"sweep.best_experiment_dir={workdir}/experiments",
           f"sweep.study_name={name}", f"sweep.n_trials={trials}", f"sweep.sampler.seed={seed}",
           f"trainer.epochs={epochs}", "hydra/job_logging=disabled", *extra]
    env = dict(os.environ, MLFLOW_DISABLE_TELEMETRY="true")
    root = Path(__file__).resolve().parent.parent
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"sweep {name} failed:\n{proc.stderr[-3000:]}")
    took = time.perf_counter() - start
    study = optuna.load_study(study_name=name, storage=f"sqlite:///{workdir}/optuna/optuna.db")
    spent = sum(len(t.intermediate_values) for t in study.trials)
    pruned = sum(t.state.name == "PRUNED" for t in study.trials)
    return spent, study.best_value, pruned, took


def smoke_args(workdir: Path) -> list[str]:
    """The smallest run (tests/bench/test_bench_smoke.py): two 2-trial sweeps (no pruner, the median one)."""
    return ["--seeds", "1", "--trials", "2", "--epochs", "2", "--pruners", "median (default)"]


def main(argv: list[str] | None = None) -> str:
    """Run the benchmark, print the table, return a Markdown section."""
    parser = argparse.ArgumentParser(prog="python -m bench.bench_sweep", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3, help="sampler seeds (default 3)")
    parser.add_argument("--trials", type=int, default=30, help="trials per study (default 30)")
    parser.add_argument("--epochs", type=int, default=12, help="epochs per trial (default 12)")
    parser.add_argument("--pruners", nargs="*", default=list(PRUNERS), choices=list(PRUNERS),
                        help="which rows to run (default all; 'none' is always run as the baseline)")
    args = parser.parse_args(argv)

    from tqdm import tqdm

    chosen = ["none"] + [n for n in args.pruners if n != "none"]
    rows = {name: [] for name in chosen}
    with tempfile.TemporaryDirectory(prefix="bench-sweep-") as tmp:
        runs = [(n, s) for s in range(args.seeds) for n in chosen]
        for name, seed in tqdm(runs, desc="sweeps", unit="sweep"):
            study = f"bench-{''.join(c for c in name if c.isalnum())}-{seed}"
            rows[name].append(_sweep(Path(tmp), study, seed, args.trials, args.epochs, PRUNERS[name]))
    full = args.trials * args.epochs
    base_epochs = sum(r[0] for r in rows["none"]) / args.seeds
    lines = [
        "## Sweep pruning (bench_sweep)\n",
        f"{args.trials} trials x {args.epochs} epochs (= {full} epochs unpruned), thesis search space, "
        f"TPE, mean over {args.seeds} seeds; synthetic learning curves through the real sweeper.\n",
        "| pruner | epochs spent | saved vs none | pruned trials | best val/accuracy | sweep wall time |",
        "|---|---|---|---|---|---|",
    ]
    for name, results in rows.items():
        epochs = sum(r[0] for r in results) / len(results)
        best = sum(r[1] for r in results) / len(results)
        pruned = sum(r[2] for r in results) / len(results)
        took = sum(r[3] for r in results) / len(results)
        saved = 1.0 - epochs / base_epochs
        lines.append(f"| {name} | {epochs:.0f} | {saved:.0%} | {pruned:.1f} | {best:.4f} | {took:.1f} s |")
    lines.append("\nTarget: >= 40 % fewer epochs at an equal best value. Best values per seed: "
                 + "; ".join(f"{n}: " + ", ".join(f"{r[1]:.4f}" for r in rs) for n, rs in rows.items()))
    section = "\n".join(lines) + "\n"
    print(section)
    return section


if __name__ == "__main__":
    if sys.argv[1:2] == ["task"]:
        del sys.argv[1]
        task()
    else:
        main(sys.argv[1:])
