"""The sweep loop behind the Hydra sweeper plugin: ask Optuna, launch jobs, tell the outcome.

One `SweepRun.run()` is one worker. Any number of workers (processes on one box or many, or the
jobs of a Hydra launcher) share the study through its storage; each keeps asking until the study
holds `sweep.n_trials` counted trials (see `progress`), so a re-run finishes the remainder.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from melanoma_exp.sweep.progress import ERROR_ATTR, SURPLUS_ATTR, is_surplus, progress
from melanoma_exp.sweep.report import (
    SweepTracker,
    best_trial,
    retrain_command,
    tracking_settings,
    write_best_experiment,
)
from melanoma_exp.sweep.space import parse_space, split_arguments, suggest, to_overrides
from melanoma_exp.sweep.study import direction, open_study, reseed_for_trial
from melanoma_exp.training.validate import check_sweep_data

log = logging.getLogger(__name__)


class TooManyFailures(RuntimeError):
    """More than `sweep.max_failures` trials failed in this invocation: the sweep stops."""


def _quote(value: Any) -> str:
    """Quote a value for a Hydra override (URLs hold ':' '@' '/' that the grammar may reject)."""
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _batch_size(config: DictConfig) -> int:
    """Trials per launch: `sweep.batch_size`, else the launcher's `n_jobs` (joblib), else 1."""
    size = OmegaConf.select(config, "sweep.batch_size", default=None)
    if size is None:
        size = OmegaConf.select(config, "hydra.launcher.n_jobs", default=None)
    if size is None:
        return 1
    size = int(size)
    return max(1, os.cpu_count() or 1) if size < 1 else size


@contextmanager
def _heartbeats(storage: Any, trial_ids: list[int], interval: float | None):
    """Record a heartbeat for each running trial every `interval` s while the jobs run."""
    if not interval:
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while True:
            for trial_id in trial_ids:
                try:
                    storage.record_heartbeat(trial_id)
                except Exception as exc:  # a transient DB error must not kill the sweep
                    log.warning("sweep: heartbeat of trial id %s failed: %s", trial_id, exc)
            if stop.wait(interval):
                return

    thread = threading.Thread(target=beat, name="optuna-heartbeat", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def _tell(study: Any, trial: Any, job_return: Any) -> str:
    """Record one job's outcome: COMPLETE (float), PRUNED (TrialPruned) or FAIL (error or NaN)."""
    import optuna
    from hydra.core.utils import JobStatus
    from optuna.trial import TrialState

    error = None
    if job_return.status == JobStatus.COMPLETED:
        value = job_return.return_value
        try:
            value = float(value)
        except (TypeError, ValueError):
            error = f"objective is {value!r}, not a number (the task must return a float)"
        else:
            if math.isnan(value):
                error = "objective is NaN"
        if error is None:
            study.tell(trial, value)
            return "COMPLETE"
    else:
        exc = job_return._return_value  # the exception; `.return_value` would re-raise it
        if isinstance(exc, optuna.TrialPruned):
            study.tell(trial, state=TrialState.PRUNED)
            return "PRUNED"
        error = f"{type(exc).__name__}: {exc}"
    trial.set_user_attr(ERROR_ATTR, error)
    study.tell(trial, state=TrialState.FAIL)
    return "FAIL"


def _requeue(study: Any, trials: list[Any], reason: str) -> None:
    """Fail trials that were cut short (Ctrl-C, launcher crash) and queue them again."""
    from optuna.storages import RetryHeartbeatStaleTrialCallback
    from optuna.trial import TrialState

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ExperimentalWarning: the callback is used as documented
        retry = RetryHeartbeatStaleTrialCallback()
    for trial in trials:
        frozen = study._storage.get_trial(trial._trial_id)
        if frozen.state != TrialState.RUNNING:
            continue
        study._storage.set_trial_user_attr(trial._trial_id, "interrupted", reason)
        study._storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
        retry(study, study._storage.get_trial(trial._trial_id))


class SweepRun:
    """One worker's sweep over the study named in `config.sweep`."""

    def __init__(self, config: DictConfig, launcher: Any, arguments: list[str],
                 params: Any, conditions: Any, check_data: bool = True) -> None:
        self.config = config
        self.check_data = check_data
        self.launcher = launcher
        self.sweep_cfg = config.sweep
        fixed, cli_space = split_arguments(arguments)
        pinned = {o.lstrip("+~").split("=", 1)[0] for o in fixed}
        space = {k: v for k, v in dict(params or {}).items() if k not in pinned}
        space.update(cli_space)  # `head.units=choice(64,128)` on the command line joins the space
        conds = {k: v for k, v in dict(conditions or {}).items() if k in space}
        self.space = parse_space(space, conds)
        self.fixed = fixed
        self.arguments = list(arguments)
        self.n_trials = int(self.sweep_cfg.n_trials)
        max_failures = self.sweep_cfg.max_failures
        self.max_failures = None if max_failures is None else int(max_failures)
        hb = self.sweep_cfg.heartbeat
        self.heartbeat_interval = hb.interval
        self.poll_s = float(hb.interval or 5)  # without heartbeats: poll other workers every 5 s
        self.study = None
        self.tracker = None
        self.failures = 0

    def _check_data(self) -> None:
        """Refuse an unasked-for synthetic ImageNet sweep; else print the data banner first."""
        from melanoma_exp.data.summary import data_banner

        cli = OmegaConf.select(self.config, "hydra.overrides.task", default=None) or []
        check_sweep_data(self.config, self.arguments + [str(o) for o in cli])
        data = OmegaConf.select(self.config, "data", default=None)
        if data is not None:
            print(data_banner(data), flush=True)

    def _open(self) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.study = open_study(self.sweep_cfg, create=True, heartbeat=True)
        settings = tracking_settings(self.config)
        if settings:
            self.tracker = SweepTracker(*settings)
            self.tracker.start(self.study.study_name, str(self.sweep_cfg.metric), direction(self.sweep_cfg))

    def _job_overrides(self, trial: Any, values: dict) -> list[str]:
        extra = [
            f"sweep.storage={_quote(self.sweep_cfg.storage)}",
            f"sweep.study_name={_quote(self.study.study_name)}",
            f"sweep.trial_number={trial.number}",
        ]
        if self.tracker:
            extra.append(f"sweep.parent_run_id={self.tracker.run_id}")
        return self.fixed + to_overrides(values) + extra

    def _next_batch(self) -> list[Any] | None:
        """Ask for the next trials; [] means wait for others' running trials, None means done."""
        from optuna.storages import fail_stale_trials
        from optuna.trial import TrialState

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fail_stale_trials(self.study)  # a dead worker's trial -> FAIL, and re-queued
        now = progress(self.study)
        slots = self.n_trials - now.done - now.running
        if slots <= 0:
            # Without heartbeats a dead worker's trial would be waited for forever.
            wait = self.sweep_cfg.wait_for_running and self.heartbeat_interval
            return [] if (now.running and wait) else None
        batch = []
        try:
            for _ in range(min(_batch_size(self.config), slots)):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    batch.append(self.study.ask())
                trial = batch[-1]
                if self.heartbeat_interval:  # before the first beat of the thread, not after
                    self.study._storage.record_heartbeat(trial._trial_id)
                if is_surplus(self.study, trial.number, self.n_trials):
                    batch.pop()
                    trial.set_user_attr(SURPLUS_ATTR, True)
                    self.study.tell(trial, state=TrialState.FAIL)
                    break
        except BaseException as exc:  # Ctrl-C in the storage look-ups: no asked trial left RUNNING
            _requeue(self.study, batch, "sweep interrupted" if isinstance(exc, KeyboardInterrupt)
                     else "sweep crashed")
            raise
        return batch or None  # a surplus first ask: the others have filled the study

    def _run_batch(self, batch: list[Any], bar: Any) -> None:
        seed = OmegaConf.select(self.sweep_cfg, "sampler.seed", default=None)
        values = []
        for trial in batch:
            reseed_for_trial(self.study.sampler, seed, trial.number)
            values.append(suggest(trial, self.space))
        overrides = [self._job_overrides(t, v) for t, v in zip(batch, values, strict=True)]
        storage = self.study._storage
        with _heartbeats(storage, [t._trial_id for t in batch], self.heartbeat_interval):
            returns = self.launcher.launch(overrides, initial_job_idx=batch[0].number)
        for trial, job_return in zip(batch, returns, strict=True):
            state = _tell_safely(self.study, trial, job_return)
            self.failures += state == "FAIL"
            if self.tracker:  # a tracking hiccup must not end a days-long sweep
                try:
                    self.tracker.record_trial(self.study.study_name, storage.get_trial(trial._trial_id))
                except Exception as exc:
                    log.warning("sweep: MLflow child run of trial %s not updated: %s", trial.number, exc)
            error = storage.get_trial(trial._trial_id).user_attrs.get(ERROR_ATTR, "")
            bar.write(f"[sweep] trial {trial.number} {state} {error}".rstrip())
            bar.update(1)

    def run(self) -> Any:
        """Sweep until the study holds `n_trials` counted trials; returns the study."""
        from tqdm import tqdm

        if self.check_data:
            self._check_data()  # once, before the study is opened: a refused sweep creates no trial
        self._open()
        start = progress(self.study)
        bar = tqdm(total=self.n_trials, initial=min(start.done, self.n_trials),
                   desc=f"study {self.study.study_name}", unit="trial")
        batch: list[Any] = []
        status = "FAILED"
        try:
            while True:
                batch = self._next_batch()
                if batch is None:
                    break
                if not batch:  # only other workers' trials are running: they finish or go stale
                    time.sleep(self.poll_s)
                    continue
                self._run_batch(batch, bar)
                batch = []
                if self.max_failures is not None and self.failures > self.max_failures:
                    raise TooManyFailures(
                        f"Sweep stopped: {self.failures} trial(s) failed in this run, more than "
                        f"sweep.max_failures={self.max_failures}; see the `error` user attribute "
                        f"of the FAIL trials in study {self.study.study_name!r}"
                    )
            status = "FINISHED"
        except KeyboardInterrupt:
            status = "KILLED"
            raise
        finally:
            bar.close()
            if batch:
                _requeue(self.study, batch, "sweep interrupted" if status == "KILLED" else "sweep crashed")
            self._finish(status)
        return self.study

    def _summary(self, best_file: Path | None) -> str:
        best_run = None
        if self.tracker:
            try:
                best_run = self.tracker.best_run_id(self.study)
            except Exception as exc:  # the summary must not fail on a tracking hiccup
                log.warning("sweep: could not look up the best trial's MLflow run: %s", exc)
        return _summary_line(self.study, self.n_trials, str(self.sweep_cfg.metric), best_file, best_run)

    def _finish(self, status: str) -> None:
        groups = set(OmegaConf.select(self.config, "hydra.runtime.choices", default={}) or {})
        out_dir = Path(str(self.sweep_cfg.best_experiment_dir))
        best_file = write_best_experiment(
            self.study, self.fixed, groups, out_dir, str(self.sweep_cfg.metric)
        )
        print(self._summary(best_file), flush=True)
        if self.tracker:
            sweep_dir = Path(str(OmegaConf.select(self.config, "hydra.sweep.dir", default=".")))
            try:
                self.tracker.finish(self.study, status, sweep_dir, best_file)
            except Exception as exc:  # the study is safe in its storage; say what is missing
                log.warning("sweep: MLflow parent run %s not completed: %s", self.tracker.run_id, exc)


def _summary_line(
    study: Any, n_trials: int, metric: str, best_file: Path | None, best_run: str | None = None
) -> str:
    """The closing lines a person reads: counts, best trial, recipe, disclaimer."""
    from melanoma_exp import DISCLAIMER

    now = progress(study)
    text = (f"[sweep] study {study.study_name!r}: {now.done}/{n_trials} trials "
            f"({now.complete} complete, {now.pruned} pruned, {now.failed} failed)")
    best = best_trial(study)
    if best is not None:
        text += f"; best {metric} = {best.value:.4f} (trial {best.number})"
    if best_file is not None:
        text += f"\n[sweep] retrain the best trial: {retrain_command(best_file)}  ({best_file})"
    if best_run is not None:
        text += f"\n[sweep] register its model: melanoma register {best_run}"
    return text + "\n" + DISCLAIMER


def _tell_safely(study: Any, trial: Any, job_return: Any) -> str:
    """`_tell`, tolerating a trial another worker already failed as stale (a slow heartbeat)."""
    import optuna

    try:
        return _tell(study, trial, job_return)
    except (optuna.exceptions.UpdateFinishedTrialError, RuntimeError, ValueError) as exc:
        log.warning("sweep: could not record trial %s: %s", trial.number, exc)
        return study._storage.get_trial(trial._trial_id).state.name
