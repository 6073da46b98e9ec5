"""`+experiment=NAME` reads the top-level experiments/NAME.yaml through the project's config source."""

from __future__ import annotations

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.errors import MissingConfigException


@pytest.fixture
def tiny_project(tmp_path, monkeypatch):
    (tmp_path / "conf").mkdir()
    (tmp_path / "experiments").mkdir()
    (tmp_path / "conf" / "config.yaml").write_text(
        "defaults:\n  - _self_\nlr: 0.1\nepochs: 3\n"
        "hydra:\n  searchpath:\n    - experiments://experiments\n"
    )
    (tmp_path / "experiments" / "fast.yaml").write_text("# @package _global_\nepochs: 1\n")
    (tmp_path / "experiments" / "slow.yaml").write_text("# @package _global_\nepochs: 99\nlr: 0.01\n")
    monkeypatch.setenv("MELANOMA_ROOT", str(tmp_path))
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(tmp_path / "conf"), version_base="1.3"):
        yield tmp_path
    GlobalHydra.instance().clear()


def test_recipe_overrides_the_defaults(tiny_project):
    cfg = compose(config_name="config", overrides=["+experiment=slow"])
    assert (cfg.epochs, cfg.lr) == (99, 0.01)


def test_without_recipe_defaults_stay(tiny_project):
    cfg = compose(config_name="config")
    assert (cfg.epochs, cfg.lr) == (3, 0.1)


def test_typo_lists_the_recipes(tiny_project):
    with pytest.raises(MissingConfigException) as err:
        compose(config_name="config", overrides=["+experiment=fsat"])
    message = str(err.value)
    assert "experiment/fsat" in message
    assert err.value.options == ["fast", "slow"]


def test_a_sweeps_best_recipe_is_found_under_outputs_and_the_source_tree_stays_clean(tmp_path, monkeypatch):
    """The project's real conf/: sweeps write best_<study>.yaml to outputs/experiments (not into
    experiments/), that folder is on the search path, and the printed command finds the file."""
    import shutil

    from melanoma_exp.config import compose as project_compose
    from melanoma_exp.paths import project_root
    from melanoma_exp.sweep.report import retrain_command

    for folder in ("conf", "experiments"):
        shutil.copytree(project_root() / folder, tmp_path / folder)
    monkeypatch.setenv("MELANOMA_ROOT", str(tmp_path))
    cfg = project_compose(["+sweep=optuna"])
    best_dir = cfg.sweep.best_experiment_dir
    assert best_dir == str(tmp_path / "outputs" / "experiments")
    best = tmp_path / "outputs" / "experiments" / "best_toy.yaml"
    best.parent.mkdir(parents=True)
    best.write_text("# @package _global_\ndefaults:\n  - /experiment/smoke\n  - _self_\nhead:\n  units: 17\n")
    assert retrain_command(best) == "python run.py +experiment=best_toy"
    assert project_compose(["+experiment=best_toy"]).head.units == 17

    elsewhere = tmp_path / "mine" / "best_toy.yaml"
    elsewhere.parent.mkdir()
    elsewhere.write_text(best.read_text().replace("17", "19"))
    best.unlink()
    command = retrain_command(elsewhere)
    searchpath = command.split("'")[1]
    assert project_compose(["+experiment=best_toy", searchpath]).head.units == 19
    GlobalHydra.instance().clear()
