"""Every building block in conf/ and every recipe in experiments/ composes, and bad values fail
early (before TensorFlow) with messages that name the key."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf
from thesis_table import RECIPES

from melanoma_exp.config import compose
from melanoma_exp.models.registry import BACKBONES
from melanoma_exp.paths import conf_dir, experiments_dir, project_root
from melanoma_exp.training.validate import ConfigError, validate_config

GROUPS = ("data", "model", "head", "optimizer", "unfreeze", "trainer", "tracking")
OPTIONS = [(g, p.stem) for g in GROUPS for p in sorted((conf_dir() / g).glob("*.yaml"))]
EXPERIMENTS = sorted(p.stem for p in experiments_dir().glob("*.yaml"))


def _run(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    return subprocess.run(
        [sys.executable, *args], cwd=project_root(), capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.mark.parametrize(("group", "option"), OPTIONS, ids=[f"{g}={o}" for g, o in OPTIONS])
def test_every_group_option_composes_and_validates(group, option):
    cfg = compose([f"{group}={option}"])
    OmegaConf.resolve(cfg)
    validate_config(cfg)


def test_every_model_config_matches_a_registry_entry():
    names = {p.stem for p in (conf_dir() / "model").glob("*.yaml")}
    assert names == set(BACKBONES)
    for name in names:
        assert compose([f"model={name}"]).model.name == name


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_composes_and_validates(name):
    cfg = compose([f"+experiment={name}"])
    OmegaConf.resolve(cfg)
    validate_config(cfg)


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_every_experiment_sets_only_existing_keys(name):
    """Hydra silently adds a misspelt key from a recipe file (`trainer.epoch: 5`); this catches it."""
    from doc_commands import DocConfig, assert_keys_exist

    path = experiments_dir() / f"{name}.yaml"
    assert_keys_exist(DocConfig(str(path), 1, "experiment", name, path.read_text()))


def test_the_required_recipes_exist():
    """The thesis recipes' values are checked in tests/test_thesis_recipes.py."""
    assert {"demo", "smoke", *RECIPES} <= set(EXPERIMENTS)


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("unfreeze.fraction=1.5", "unfreeze.fraction"),
        ("head.regularizer=l3", "head.regularizer"),
        ("head.dropout1=1.0", "head.dropout1"),
        ("trainer.monitor=val/acc", "trainer.monitor"),
        ("trainer.epochs=0", "trainer.epochs"),
        ("model.name=densnet201", "model.name"),
        ("trainer.distribute=tpu", "trainer.distribute"),
        ("optimizer.learning_rate=-1", "optimizer.learning_rate"),
        # eval.* is used only after training: checked up front all the same
        ("eval.target_sensitivity=1.5", "eval.target_sensitivity"),
        ("eval.target_sensitivity=0", "eval.target_sensitivity"),
        ("eval.threshold_method=max_accuracy", "eval.threshold_method"),
        ("eval.bootstrap=0", "eval.bootstrap"),
        ("eval.bootstrap=99.5", "eval.bootstrap"),
        ("eval.confidence=1.0", "eval.confidence"),
        ("eval.subgroup_margin=-0.1", "eval.subgroup_margin"),
        ("eval.subgroup_min_malignant=-1", "eval.subgroup_min_malignant"),
        ("eval.robustness.max_images=0", "eval.robustness.max_images"),
        ("eval.calibration.min_temperature=0", "eval.calibration.min_temperature"),
        ("eval.calibration.max_temperature=0.4", "eval.calibration.max_temperature"),
        ("eval.ood.max_lesion_rejection=1", "eval.ood.max_lesion_rejection"),
        ("eval.ood.n_components=0", "eval.ood.n_components"),
    ],
)
def test_invalid_values_name_the_key(override, key):
    """Types and choices fail as Hydra composes (the schema), ranges in validate_config: both name the key."""
    with pytest.raises((ConfigError, ConfigCompositionException), match=key.replace(".", r"\.")):
        validate_config(compose([override]))


def test_eval_keys_of_unused_parts_are_not_checked():
    # youden ignores the target; disabled parts may hold anything (as the docs' "off switch" promises)
    validate_config(compose(["eval.threshold_method=youden", "eval.target_sensitivity=2"]))
    validate_config(compose(["eval.enabled=false", "eval.bootstrap=0"]))
    validate_config(compose(["eval.robustness.enabled=false", "eval.robustness.max_images=0"]))
    with pytest.raises(ConfigError, match=r"eval\.beta"):
        validate_config(compose(["eval.threshold_method=f_beta", "eval.beta=0"]))
    with pytest.raises(ConfigError, match=r"eval\.tta_transforms"):
        validate_config(compose(["eval.tta=true", "eval.tta_transforms=[]"]))
    with pytest.raises(ConfigCompositionException, match=r"(?s)'shear', expected one of \[identity, hflip.*eval\.tta_transforms"):
        compose(["eval.tta=true", "eval.tta_transforms=[hflip,shear]"])


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(ConfigError, match="densenet201.*efficientnetv2b0|efficientnetv2b0.*densenet201"):
        validate_config(compose(["model.name=densnet201"]))


def test_invalid_value_fails_before_tensorflow_is_imported():
    code = (
        "import sys\n"
        "from melanoma_exp.config import compose\n"
        "from melanoma_exp.commands.train import train\n"
        "from melanoma_exp.training.validate import ConfigError\n"
        "for bad in ('unfreeze.fraction=1.5', 'eval.target_sensitivity=1.5'):\n"
        "    try:\n"
        "        train(compose([bad, 'tracking=none']))\n"
        "    except ConfigError as exc:\n"
        "        print('ERROR', exc)\n"
        "print('TF', 'tensorflow' in sys.modules, 'keras' in sys.modules)\n"
    )
    result = _run("-c", code)
    assert result.returncode == 0, result.stderr
    assert "ERROR unfreeze.fraction=1.5" in result.stdout
    assert "ERROR eval.target_sensitivity=1.5" in result.stdout
    assert "TF False False" in result.stdout


def test_run_py_prints_the_composed_config():
    result = _run("run.py", "model=densenet201", "--cfg", "job")
    assert result.returncode == 0, result.stderr
    printed = OmegaConf.create(result.stdout)
    assert printed.model.name == "densenet201"
    assert set(GROUPS) <= set(printed)


def test_run_py_typo_in_a_group_lists_the_choices():
    result = _run("run.py", "model=densnet201", "--cfg", "job")
    assert result.returncode != 0
    assert "densenet201" in result.stderr and "efficientnetv2b3" in result.stderr


def test_run_py_invalid_value_exits_with_the_key_in_the_message(tmp_path):
    result = _run("run.py", "unfreeze.fraction=1.5", "tracking=none", f"paths.output_dir={tmp_path}")
    assert result.returncode != 0
    assert "unfreeze.fraction=1.5: must be <= 1" in result.stderr
