"""Fault tolerance and parallel workers: kill -9, Ctrl-C, two workers on SQLite and PostgreSQL,
Hydra's joblib launcher. Every worker is a real `python toy_app.py +sweep=optuna` process."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid

import pytest

from .helpers import finished_by, load, run_toy, start_toy, states, wait_for_work


def stopped(worker, log, timeout: float) -> int:
    """The worker's exit code; if it is still running after ``timeout``, fail with its stacks and log."""
    try:
        return worker.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        worker.send_signal(signal.SIGUSR1)  # faulthandler in toy_app.py prints every thread's stack
        time.sleep(2)
        worker.kill()
        worker.wait()
        pytest.fail(f"the worker did not stop within {timeout} s:\n{log.read_text()[-6000:]}")


def test_killed_worker_trial_is_failed_requeued_and_rerun(tmp_path):
    worker = start_toy(tmp_path, "sweep.n_trials=3", "sweep.pruner.name=none",
                       "+toy.slow_trials=[1]", "+toy.slow_s=120")
    try:
        wait_for_work(tmp_path, 1)  # killed while sampling, the retry would re-sample what was not stored
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
    before = load(tmp_path).trials
    assert [t.state.name for t in before] == ["COMPLETE", "RUNNING"]

    run_toy(tmp_path, "sweep.n_trials=3", "sweep.pruner.name=none",
            "+toy.slow_trials=[1]", "+toy.slow_s=120")  # the same command, re-run
    study = load(tmp_path)
    by_number = {t.number: t for t in study.trials}
    assert by_number[0].value == before[0].value  # the finished trial is kept as it was
    assert by_number[1].state.name == "FAIL" and "error" not in by_number[1].user_attrs
    retries = [t for t in study.trials if t.system_attrs.get("failed_trial") == 1]
    assert len(retries) == 1 and retries[0].state.name == "COMPLETE"
    assert retries[0].params == by_number[1].params  # re-run with the same parameters
    assert states(study) == {"COMPLETE": 3, "FAIL": 1}


@pytest.mark.timeout(900)
def test_ctrl_c_leaves_the_study_consistent_and_a_rerun_resumes(tmp_path):
    worker = start_toy(tmp_path, "sweep.n_trials=3", "sweep.pruner.name=none",
                       "+toy.slow_trials=[1]", "+toy.slow_s=120")
    wait_for_work(tmp_path, 1)
    worker.send_signal(signal.SIGINT)
    assert stopped(worker, tmp_path / "worker.log", timeout=300) != 0  # generous: a loaded CI box
    study = load(tmp_path)
    assert "RUNNING" not in states(study)
    interrupted = next(t for t in study.trials if t.number == 1)
    assert interrupted.state.name == "FAIL" and interrupted.user_attrs["interrupted"]
    assert states(study).get("WAITING") == 1  # queued again with the same parameters

    run_toy(tmp_path, "sweep.n_trials=3", "sweep.pruner.name=none")
    study = load(tmp_path)
    assert states(study) == {"COMPLETE": 3, "FAIL": 1}
    dirs = sorted(p.name for p in (tmp_path / "sweeps" / "toy").glob("*/trial_*"))
    assert dirs == ["trial_0", "trial_1", "trial_2", "trial_3"]


def _two_workers(out, storage=None, study="toy", n_trials=6):
    # Every trial waits until both worker processes have started one: neither can run the study alone.
    args = (f"sweep.n_trials={n_trials}", "sweep.pruner.name=none", f"+toy.barrier_dir={out}/barrier")
    workers = [start_toy(out, *args, storage=storage, study=study, log_name=f"worker{i}")
               for i in range(2)]
    for worker in workers:
        assert worker.wait(timeout=240) == 0, (out / "worker0.log").read_text()[-3000:]
    done = [finished_by((out / f"worker{i}.log").read_text()) for i in range(2)]
    return load(out, study, storage), done


def _assert_shared(study, done, n_trials=6):
    assert states(study) == {"COMPLETE": n_trials}
    assert sorted(t.number for t in study.trials) == list(range(n_trials))
    assert done[0] and done[1], "both workers should have run trials"
    assert not done[0] & done[1] and done[0] | done[1] == set(range(n_trials))
    assert len({t.params["head.dropout1"] for t in study.trials}) == n_trials


def test_two_workers_share_one_sqlite_study(tmp_path):
    study, done = _two_workers(tmp_path)
    _assert_shared(study, done)


def test_two_workers_share_one_postgresql_study(tmp_path, postgres_url):
    name = f"toy-{uuid.uuid4().hex[:8]}"
    study, done = _two_workers(tmp_path, storage=postgres_url, study=name)
    _assert_shared(study, done)


def test_joblib_launcher_runs_and_prunes_trials_in_parallel_processes(tmp_path):
    # A threshold no accuracy reaches prunes every trial at its first report: the decision is
    # taken in the joblib worker process, through the storage.
    run_toy(tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "sweep.n_trials=4",
            "sweep.pruner.name=threshold", "sweep.pruner.lower=1.01", "sweep.pruner.warmup_epochs=0",
            timeout=300)
    study = load(tmp_path)
    assert states(study) == {"PRUNED": 4}
    assert all(list(t.intermediate_values) == [0] for t in study.trials)
