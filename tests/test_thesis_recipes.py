"""Every thesis recipe (experiments/thesis_*.yaml) composes as its documented command does and holds
every value the thesis states for it (tests/thesis_table.py), as this project improves it and with
`+thesis=as_published`."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf
from thesis_table import AS_PUBLISHED, AUGMENT_KEYS, RECIPES, run_py_config

from melanoma_exp.config import compose
from melanoma_exp.paths import conf_dir, experiments_dir, project_root
from melanoma_exp.training.validate import validate_config

NAMES = sorted(RECIPES)
SWITCH = "+thesis=as_published"


def value_of(cfg, key: str):
    """The composed value of a table key; `optimizer` (a config group) as its option's name."""
    if key == "optimizer":
        targets = {p.stem: OmegaConf.load(p)._target_ for p in (conf_dir() / "optimizer").glob("*.yaml")}
        return next((name for name, target in targets.items() if target == cfg.optimizer._target_), None)
    return OmegaConf.select(cfg, key, throw_on_missing=True, default="<absent>")


def mismatches(cfg, expected: dict) -> list[str]:
    """`key: thesis X, composed Y` for every table value the config does not hold (types too: 0 is
    not accepted for false, nor 1 for true)."""
    wrong = []
    for key, want in expected.items():
        got = value_of(cfg, key)
        same = got == want and (isinstance(got, bool) == isinstance(want, bool) or key.startswith("data.augment."))
        if not same:
            wrong.append(f"{key}: thesis {want!r}, composed {got!r}")
    return wrong


def test_every_thesis_recipe_is_in_the_table():
    assert {p.stem for p in experiments_dir().glob("thesis_*.yaml")} == set(RECIPES)


@pytest.mark.parametrize("name", NAMES)
def test_run_py_composes_the_recipe_with_the_thesis_values(name):
    cfg = run_py_config("job", f"+experiment={name}")
    assert cfg.data.source == "isic"
    assert mismatches(cfg, RECIPES[name][1]) == []
    # as this project improves it: grouped split, augmentation, operating point chosen on validation
    assert cfg.data.split.group_by == "lesion_id"
    assert any(cfg.data.augment[key] for key in AUGMENT_KEYS)
    assert cfg.eval.enabled and cfg.eval.threshold_method == "target_sensitivity"


@pytest.mark.parametrize("name", NAMES)
def test_as_published_switch_keeps_the_recipe_and_takes_the_thesis_data_handling(name):
    cfg = compose([f"+experiment={name}", SWITCH])
    OmegaConf.resolve(cfg)
    validate_config(cfg)
    assert mismatches(cfg, {**RECIPES[name][1], **AS_PUBLISHED}) == []
    before = compose([SWITCH, f"+experiment={name}"])  # no recipe sets the switch's keys: order-free
    OmegaConf.resolve(before)
    assert before == cfg


def test_the_switch_sets_only_existing_keys():
    from doc_commands import DocConfig, assert_keys_exist

    path = conf_dir() / "thesis" / "as_published.yaml"
    assert_keys_exist(DocConfig(str(path), 1, "thesis", "as_published", path.read_text()))


def test_as_published_takes_effect_on_the_command_line_too():
    cfg = run_py_config("job", "+experiment=thesis_best_run", SWITCH)
    assert mismatches(cfg, {**RECIPES["thesis_best_run"][1], **AS_PUBLISHED}) == []


def test_a_recipe_that_drifts_from_the_table_is_named():
    cfg = compose(["+experiment=thesis_run2", "head.dropout1=0.35", "optimizer=sgd", "head.batch_norm=false"])
    assert mismatches(cfg, RECIPES["thesis_run2"][1]) == [
        "head.batch_norm: thesis True, composed False",
        "optimizer: thesis 'adam', composed 'sgd'",
        "head.dropout1: thesis 0.34, composed 0.35",
    ]
    assert mismatches(compose(["+experiment=thesis_run2"]), {"head.batch_norm": 1, "data.split.val": 0.2}) == [
        "head.batch_norm: thesis 1, composed True", "data.split.val: thesis 0.2, composed 0.16"]


def test_the_thesis_page_covers_every_table_recipe_and_study():
    """docs/thesis.md: a section per table the issue lists, a command for every recipe and study."""
    from doc_commands import docs_commands
    from thesis_table import STUDIES

    page = (project_root() / "docs" / "thesis.md").read_text()
    for table in ("2.1", "4.1 / 4.2", "4.3", "4.4", "4.5", "4.6", "4.7", "4.8", "4.9", "4.10", "5.1"):
        assert f"Table {table}" in page or f"Tables {table}" in page, table
    commands = " ".join(c.text for c in docs_commands() if c.file == "docs/thesis.md")
    missing = [f"+experiment={n}" for n in RECIPES if f"+experiment={n}" not in commands]
    missing += [f"+sweep={n}" for n in STUDIES if f"+sweep={n}" not in commands]
    assert missing == [], f"docs/thesis.md runs no command for {missing}"
    assert SWITCH in commands
