"""The search space: Hydra's sweep syntax -> Optuna distributions, conditions, override text."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from melanoma_exp.config import compose
from melanoma_exp.sweep.space import parse_space, split_arguments, suggest, to_overrides


def test_hydra_sweep_syntax_maps_to_optuna_distributions():
    space = parse_space({
        "optimizer": "choice(adam, sgd)",
        "head.units": "int(interval(64, 1024))",
        "optimizer.learning_rate": "tag(log, interval(1e-5, 1e-2))",
        "head.dropout1": "interval(0.1, 0.5)",
        "head.regularizer": "choice('null', l1, l2)",
        "head.layers": "range(1, 4)",
    })
    dists = {p.name: p.distribution for p in space}
    assert dists["optimizer"] == CategoricalDistribution(["adam", "sgd"])
    assert dists["head.units"] == IntDistribution(64, 1024)
    assert dists["optimizer.learning_rate"] == FloatDistribution(1e-5, 1e-2, log=True)
    assert dists["head.dropout1"] == FloatDistribution(0.1, 0.5)
    assert dists["head.layers"] == IntDistribution(1, 3)  # Hydra's range excludes the stop


def test_bad_expressions_name_the_key():
    with pytest.raises(ValueError, match="head.units"):
        parse_space({"head.units": "128"})
    with pytest.raises(ValueError, match="head.units"):
        parse_space({"head.units": "choice(1,"})
    with pytest.raises(ValueError, match="head.units2"):
        parse_space({"head.units": "choice(1, 2)"}, {"head.units2": "head.second_dense"})


def test_conditional_parameter_only_when_parent_is_true():
    space = parse_space(
        {"head.second_dense": "choice(true, false)", "head.units2": "choice(64, 128)"},
        {"head.units2": "head.second_dense"},
    )
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = {True: 0, False: 0}
    for _ in range(20):
        values = suggest(study.ask(), space)
        seen[values["head.second_dense"]] += 1
        assert ("head.units2" in values) == values["head.second_dense"]
    assert seen[True] and seen[False]


def test_suggested_values_compose_with_the_project_config():
    cfg = compose(["+sweep=optuna"])
    assert cfg.sweep.n_trials > 0 and cfg.trainer.monitor == cfg.sweep.metric
    values = {"optimizer": "sgd", "head.regularizer": "null", "head.batch_norm": True,
              "optimizer.learning_rate": 0.003}
    composed = compose(["+sweep=optuna", *to_overrides(values)])
    assert composed.optimizer._target_.endswith("SGD")
    assert composed.optimizer.learning_rate == 0.003
    assert composed.head.regularizer is None and composed.head.batch_norm is True


def test_command_line_sweeps_join_the_space_and_fixed_values_pin():
    fixed, swept = split_arguments(["model=densenet201", "head.units=choice(64,128)", "+sweep=optuna"])
    assert fixed == ["model=densenet201", "+sweep=optuna"]
    assert swept == {"head.units": "choice(64,128)"}


def test_the_shipped_default_space_parses():
    from omegaconf import OmegaConf

    from melanoma_exp.paths import conf_dir

    node = OmegaConf.load(conf_dir() / "sweep" / "optuna.yaml").hydra.sweeper
    space = parse_space(node.params, node.conditions)
    names = {p.name for p in space}
    assert {"data.batch_size", "optimizer", "optimizer.learning_rate", "head.units2"} <= names
    cfg = compose(["+sweep=optuna"])
    assert cfg.sweep.study_name and cfg.sweep.storage.startswith("sqlite:////")


def test_every_thesis_winner_lies_inside_the_default_space():
    """The default space is the union of the thesis's studies' (each study's own space: test_thesis_studies)."""
    from omegaconf import OmegaConf
    from thesis_table import STUDIES, outside_space

    from melanoma_exp.paths import conf_dir

    node = OmegaConf.load(conf_dir() / "sweep" / "optuna.yaml").hydra.sweeper
    space = parse_space(node.params, node.conditions)
    outside = {name: outside_space(space, study.winner) for name, study in STUDIES.items()}
    assert outside == dict.fromkeys(STUDIES, []), f"thesis winners outside conf/sweep/optuna.yaml: {outside}"


def test_a_null_expression_leaves_the_space_with_its_condition():
    """How a sweep config built on another drops a key of its base's space (conf/sweep/thesis_run1.yaml)."""
    space = parse_space({"head.units": None, "head.second_dense": "choice(true, false)", "head.units2": None,
                         "head.dropout2": "interval(0.0, 0.5)"},
                        {"head.units2": "head.second_dense", "head.dropout2": "head.second_dense"})
    assert [(p.name, p.condition) for p in space] == [("head.second_dense", None),
                                                      ("head.dropout2", ("head.second_dense", None))]
    with pytest.raises(ValueError, match="head.dropout2.*head.second_dense"):
        parse_space({"head.second_dense": None, "head.dropout2": "interval(0.0, 0.5)"},
                    {"head.dropout2": "head.second_dense"})
