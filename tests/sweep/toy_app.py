"""A toy Hydra task on the project's real config, for testing the sweeper itself without TensorFlow.

It plays the trainer's part of the contract: finds its trial with `trial_from_config`, reports a
per-epoch value computed from the swept parameters, prunes when told, and returns its objective.
Test knobs (`+toy.*`): fail_trials / nan_trials (trial numbers that raise / return NaN),
slow_trials (numbers that sleep `slow_s` in their first epoch, after writing `sleeping` into their
job folder), epochs, sleep_s (per epoch),
barrier_dir + barrier_workers (a trial's first epoch waits until that many worker processes have
started a trial: no worker can finish the study alone, whatever the timing).
"""

from __future__ import annotations

import faulthandler
import math
import os
import signal
import time
from pathlib import Path

import hydra
import optuna
from omegaconf import DictConfig

import melanoma_exp.config  # noqa: F401  (the ${project_root:} resolver)
from melanoma_exp.sweep.trial import trial_from_config


def quality(cfg: DictConfig) -> float:
    """A smooth function of the swept keys, best at low dropout and learning rate near 1e-3."""
    lr_term = abs(math.log10(float(cfg.optimizer.learning_rate)) + 3.0) / 10.0
    return max(0.0, 1.0 - float(cfg.head.dropout1) - lr_term)


def barrier(folder: str, workers: int, timeout_s: float = 120.0) -> None:
    """Sign in as this process and wait until ``workers`` distinct processes have signed in."""
    here = Path(folder)
    here.mkdir(parents=True, exist_ok=True)
    (here / str(os.getpid())).touch()
    deadline = time.monotonic() + timeout_s
    while len(list(here.iterdir())) < workers:
        if time.monotonic() > deadline:
            raise RuntimeError(f"barrier: only {len(list(here.iterdir()))} of {workers} workers within {timeout_s} s")
        time.sleep(0.05)


faulthandler.register(signal.SIGUSR1)  # a test that gives up on a worker asks it for its stacks first


@hydra.main(version_base="1.3", config_path="../../conf", config_name="config")
def main(cfg: DictConfig) -> float:
    handle = trial_from_config(cfg)
    assert handle is not None, "the toy task only runs inside a sweep"
    toy = cfg.get("toy") or {}
    number = handle.number
    if number in (toy.get("fail_trials") or []):
        raise RuntimeError(f"injected failure in trial {number}")
    if number in (toy.get("nan_trials") or []):
        return float("nan")
    q, value = quality(cfg), 0.0
    for epoch in range(int(toy.get("epochs", 4))):
        if epoch == 0 and toy.get("barrier_dir"):
            barrier(str(toy.barrier_dir), int(toy.get("barrier_workers", 2)))
        if epoch == 0 and number in (toy.get("slow_trials") or []):
            from hydra.core.hydra_config import HydraConfig

            (Path(HydraConfig.get().runtime.output_dir) / "sleeping").touch()  # tests interrupt from here on
            time.sleep(float(toy.get("slow_s", 60)))
        time.sleep(float(toy.get("sleep_s", 0.0)))
        value = q * (1.0 - 0.5 ** (epoch + 1))
        handle.report(value, epoch)
        if handle.should_prune():
            raise optuna.TrialPruned(f"pruned at epoch {epoch}")
    return value


if __name__ == "__main__":
    main()
