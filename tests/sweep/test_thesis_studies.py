"""Every thesis study (conf/sweep/thesis_*.yaml) is one command, `python run.py +sweep=NAME`: a MULTIRUN
sweep of the real archive with the model, trial count, epochs per trial and pruning rule the thesis
reports (tests/thesis_table.py), searching exactly the parameters that study searched, in ranges that
hold every winner the thesis reports for it."""

from __future__ import annotations

import pytest
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf
from thesis_table import STUDIES, outside_space, run_py_config

from melanoma_exp.config import compose
from melanoma_exp.paths import conf_dir
from melanoma_exp.sweep.space import format_value, parse_space
from melanoma_exp.training.validate import validate_config

NAMES = sorted(STUDIES)
PARSER = OverridesParser.create()
GROUPS = {p.name for p in conf_dir().iterdir() if p.is_dir()}  # keys that choose a config group


def space_of(cfg) -> list:
    sweeper = cfg.hydra.sweeper
    return parse_space(OmegaConf.to_container(sweeper.params), OmegaConf.to_container(sweeper.get("conditions") or {}))


def test_every_thesis_study_is_in_the_table():
    assert {p.stem for p in (conf_dir() / "sweep").glob("thesis_*.yaml")} == set(STUDIES)


@pytest.mark.parametrize("name", NAMES)
def test_run_py_composes_the_study_as_the_thesis_ran_it(name):
    study = STUDIES[name]
    cfg = run_py_config("all", f"+sweep={name}")
    assert cfg.hydra.mode == "MULTIRUN"
    assert cfg.hydra.sweeper._target_.endswith("MelanomaOptunaSweeper")
    assert (cfg.hydra.runtime.choices.data, cfg.data.source) == ("isic", "isic")
    assert (cfg.model.name, cfg.model.weights) == (study.model, "imagenet")
    assert cfg.sweep.n_trials == study.trials
    if study.epochs is not None:
        assert cfg.trainer.epochs == study.epochs
    for key, value in (study.pruner or {}).items():
        assert OmegaConf.select(cfg, key) == value, key
    space = space_of(cfg)
    assert sorted(p.name for p in space) == sorted(study.searched)
    assert outside_space(space, study.winner) == []
    every_value_composes_and_validates(name, space)


def every_value_composes_and_validates(name: str, space: list) -> None:
    """What a trial can be given: each choice and each end of each interval, once (a config group
    through Hydra, a value set on the composed config, where the schema checks its type)."""
    base = compose([f"+sweep={name}"])
    validate_config(base)
    for param in space:
        dist = param.distribution
        values = list(dist.choices) if hasattr(dist, "choices") else [dist.low, dist.high]
        for value in values:
            if param.name in GROUPS:
                if OmegaConf.load(conf_dir() / param.name / f"{value}.yaml") == base[param.name]:
                    continue  # the base's own option, validated above
                cfg = compose([f"+sweep={name}", f"{param.name}={value}"])
            else:
                cfg = base.copy()
                if param.condition:
                    OmegaConf.update(cfg, param.condition[0], True)
                override = f"{param.name}={format_value(value)}"  # as the sweeper passes it to a job
                OmegaConf.update(cfg, param.name, PARSER.parse_overrides([override])[0].value())
            OmegaConf.resolve(cfg)
            validate_config(cfg)


@pytest.mark.parametrize("name", NAMES)
def test_the_study_sets_only_existing_keys(name):
    from doc_commands import DocConfig, assert_keys_exist

    path = conf_dir() / "sweep" / f"{name}.yaml"
    assert_keys_exist(DocConfig(str(path), 1, "sweep", name, path.read_text()))


def test_each_study_is_its_own_optuna_study():
    """They share one storage: the names keep run 1's trials out of run 3's study."""
    names = {name: str(run_py_config("all", f"+sweep={name}").sweep.study_name) for name in NAMES}
    assert len(set(names.values())) == len(NAMES), names


def test_a_winner_outside_its_space_is_reported():
    space = parse_space({"head.units": "choice(256, 512)", "head.second_dense": "choice(true, false)",
                         "head.units2": "choice(64, 128)", "head.dropout2": "interval(0.0, 0.5)"},
                        {"head.units2": "head.second_dense", "head.dropout2": "head.second_dense"})
    # "units 2: 0" beside no second dense layer is not a value the space could draw, nor needs to
    assert outside_space(space, {"head.second_dense": False, "head.units2": 0, "head.dropout2": 0.9}) == []
    assert outside_space(space, {"head.units": 1024, "head.second_dense": True, "head.units2": 0,
                                 "head.dropout2": 0.9, "head.dropout1": 0.1}) == [
        "head.units=1024", "head.units2=0", "head.dropout2=0.9", "head.dropout1=0.1 (not searched)"]
