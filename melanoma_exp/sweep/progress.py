"""How far a study is towards its total, counted the same way by every worker.

A trial counts towards `sweep.n_trials` when it COMPLETEd, was PRUNED, or FAILed *in the job* (the
sweeper records `error`). Trials failed because their worker died (heartbeat stale) or was
interrupted do not count: they are re-queued and their retry counts instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ERROR_ATTR = "error"  # why the job failed (exception text or "objective is NaN")
SURPLUS_ATTR = "surplus"  # asked by a worker after others had already reached the total


@dataclass(frozen=True)
class Progress:
    """Counts of one study."""

    done: int
    running: int
    waiting: int
    complete: int
    pruned: int
    failed: int  # job failures (counted in `done`)


def counts(trial: Any) -> bool:
    """Whether a finished trial counts towards the total."""
    from optuna.trial import TrialState

    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and ERROR_ATTR in trial.user_attrs


def progress(study: Any) -> Progress:
    """Count the study's trials (see module docstring)."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    by_state = {state: 0 for state in TrialState}
    for trial in trials:
        by_state[trial.state] += 1
    failed = sum(1 for t in trials if t.state == TrialState.FAIL and ERROR_ATTR in t.user_attrs)
    return Progress(
        done=by_state[TrialState.COMPLETE] + by_state[TrialState.PRUNED] + failed,
        running=by_state[TrialState.RUNNING],
        waiting=by_state[TrialState.WAITING],
        complete=by_state[TrialState.COMPLETE],
        pruned=by_state[TrialState.PRUNED],
        failed=failed,
    )


def is_surplus(study: Any, number: int, n_trials: int) -> bool:
    """True when trials numbered below `number` already fill the total (a race between workers)."""
    from optuna.trial import TrialState

    ahead = 0
    for trial in study.get_trials(deepcopy=False):
        if trial.number >= number:
            continue
        if trial.state in (TrialState.RUNNING, TrialState.WAITING) or counts(trial):
            ahead += 1
    return ahead >= n_trials
