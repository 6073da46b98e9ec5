"""The trainer's side of the contract: `trial_from_config` on a real SQLite study."""

from __future__ import annotations

import math

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from melanoma_exp.config import compose
from melanoma_exp.sweep.study import open_study
from melanoma_exp.sweep.trial import trial_from_config


def sweep_node(tmp_path, **extra):
    """The composed `sweep` node of `+sweep=thesis_run3` (threshold pruner) on a tmp store."""
    cfg = compose(["+sweep=thesis_run3", f"sweep.storage=sqlite:///{tmp_path}/optuna.db",
                   "sweep.study_name=s"])
    OmegaConf.resolve(cfg)
    node = cfg.sweep
    for key, value in extra.items():
        node[key] = value
    return node


def test_no_sweep_means_no_trial(tmp_path):
    assert trial_from_config(OmegaConf.create({"sweep": None})) is None
    assert trial_from_config(OmegaConf.create({"model": {"name": "x"}})) is None
    assert trial_from_config(OmegaConf.create({"sweep": sweep_node(tmp_path)})) is None


def test_handle_reports_prunes_and_tags_by_trial_number(tmp_path):
    study = open_study(OmegaConf.create(sweep_node(tmp_path)), create=True)
    study.ask()
    asked = study.ask()  # the job must get trial 1, not the first RUNNING one
    cfg = OmegaConf.create({"sweep": sweep_node(tmp_path, trial_number=1, parent_run_id="abc")})
    handle = trial_from_config(cfg)
    assert handle.number == 1
    decisions = []
    for epoch in range(6):
        handle.report(0.7, epoch)
        decisions.append(handle.should_prune())
    assert decisions == [False, False, False, False, True, True]  # thesis rule: from epoch 5 on
    handle.report(math.nan, 6)  # a NaN epoch is not recorded
    assert study._storage.get_trial(asked._trial_id).intermediate_values == {e: 0.7 for e in range(6)}
    assert handle.mlflow_tags() == {"mlflow.parentRunId": "abc", "optuna.study_name": "s",
                                    "optuna.trial_number": "1", "optuna.state": "RUNNING"}


def test_clear_errors_for_bad_trial_number_and_storage(tmp_path):
    open_study(OmegaConf.create(sweep_node(tmp_path)), create=True)
    with pytest.raises(KeyError, match="sweep.trial_number=7"):
        trial_from_config(OmegaConf.create({"sweep": sweep_node(tmp_path, trial_number=7)}))
    bad = sweep_node(tmp_path, trial_number=0, storage="optuna.db")
    with pytest.raises(ValueError, match="sweep.storage"):
        trial_from_config(OmegaConf.create({"sweep": bad}))
    relative = sweep_node(tmp_path, trial_number=0, storage="sqlite:///optuna.db")
    with pytest.raises(ValueError, match="absolute"):
        trial_from_config(OmegaConf.create({"sweep": relative}))


@pytest.mark.parametrize("name, cls", [("median", "MedianPruner"), ("percentile", "PercentilePruner"),
                                       ("hyperband", "HyperbandPruner"), ("none", "NopPruner")])
def test_pruner_names_build_optuna_pruners(name, cls):
    from melanoma_exp.sweep.study import make_pruner

    assert type(make_pruner(compose(["+sweep=optuna", f"sweep.pruner.name={name}"]).sweep)).__name__ == cls


def test_unknown_pruner_and_incomplete_threshold_are_named():
    from melanoma_exp.sweep.study import make_pruner

    with pytest.raises(ConfigCompositionException, match="(?s)'medain', expected one of .median, percentile.*sweep.pruner.name"):
        compose(["+sweep=optuna", "sweep.pruner.name=medain"])
    with pytest.raises(ValueError, match="sweep.pruner.lower"):
        make_pruner(compose(["+sweep=optuna", "sweep.pruner.name=threshold"]).sweep)


@pytest.mark.parametrize("interrupt_on_ask", [1, 2])
def test_ctrl_c_between_asks_leaves_no_trial_running(tmp_path, monkeypatch, interrupt_on_ask):
    """A Ctrl-C that lands while the sweeper asks for a batch (storage look-ups, before any job runs)
    fails the trials asked so far and queues them again, as one during their jobs does."""
    from melanoma_exp.sweep import driver

    cfg = compose(["+sweep=optuna", f"sweep.storage=sqlite:///{tmp_path}/optuna.db", "sweep.study_name=s",
                   "sweep.batch_size=3", "sweep.n_trials=3"])
    run = driver.SweepRun(cfg, launcher=None, arguments=[], params=None, conditions=None, check_data=False)
    run.study = open_study(cfg.sweep, create=True, heartbeat=True)
    asks = []

    def interrupted(study, number, n_trials):
        asks.append(number)
        if len(asks) == interrupt_on_ask:
            raise KeyboardInterrupt
        return False

    monkeypatch.setattr(driver, "is_surplus", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run._next_batch()
    trials = run.study.get_trials(deepcopy=False)
    assert sorted(t.state.name for t in trials) == ["FAIL"] * interrupt_on_ask + ["WAITING"] * interrupt_on_ask
    assert all(t.user_attrs["interrupted"] == "sweep interrupted" for t in trials if t.state.name == "FAIL")
