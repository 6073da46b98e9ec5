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
