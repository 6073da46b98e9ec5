"""Defaults live in conf/ only: the schema types the groups but holds no values, and the code reads
what the YAML says. Changing a default in a copy of conf/ changes what runs."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import MISSING

from melanoma_exp import schema
from melanoma_exp.config import compose, group_config
from melanoma_exp.evaluation.clinical_report import clinical_evaluation
from melanoma_exp.paths import conf_dir


@pytest.fixture
def edited_conf(tmp_path, monkeypatch):
    """A copy of the project with its own conf/, selected through MELANOMA_ROOT."""
    shutil.copytree(conf_dir(), tmp_path / "conf")
    monkeypatch.setenv("MELANOMA_ROOT", str(tmp_path))

    def edit(relative: str, old: str, new: str) -> None:
        path = tmp_path / "conf" / relative
        text = path.read_text()
        assert text.count(old) == 1, f"{old!r} not once in {relative}"
        path.write_text(text.replace(old, new))

    return edit


def scores(n: int = 400, seed: int = 0):
    rng = np.random.default_rng(seed)
    y = (np.arange(n) % 2).astype(int)
    return y, np.clip(0.5 + (y - 0.5) * 0.35 + rng.normal(0, 0.25, n), 0.001, 0.999)


def test_a_default_changed_in_yaml_takes_effect(edited_conf):
    y, p = scores()
    before = clinical_evaluation(y, p, y, p, group_config("eval", ["eval.bootstrap=50"]))
    edited_conf("eval/default.yaml", "target_sensitivity: 0.95 ", "target_sensitivity: 0.80 ")
    edited_conf("eval/default.yaml", "bootstrap: 1000 ", "bootstrap: 50 ")
    eval_cfg = group_config("eval")
    assert (eval_cfg.target_sensitivity, eval_cfg.bootstrap) == (0.80, 50)
    after = clinical_evaluation(y, p, y, p, eval_cfg)
    assert before["operating_point"]["target_sensitivity"] == 0.95
    assert after["operating_point"]["target_sensitivity"] == 0.80
    assert after["operating_point"]["sensitivity"] >= 0.80 and after["threshold"] > before["threshold"]


def test_a_key_the_yaml_forgets_is_an_error_not_a_code_default(edited_conf):
    edited_conf("trainer/default.yaml", "resume: true", "")
    with pytest.raises(Exception, match="resume"):
        compose().trainer.resume  # noqa: B018  (reading it is the point)


def test_the_schema_holds_no_values():
    """Every field of every group schema is MISSING (or None for an open block a recipe may add)."""

    def check(node, prefix):
        for f in dataclasses.fields(node):
            if f.default_factory is not dataclasses.MISSING:  # a nested group block
                check(f.default_factory, f"{prefix}.{f.name}")
            else:
                assert f.default in (MISSING, None), f"{prefix}.{f.name} has a code-side default {f.default!r}"

    for group, node in schema.SCHEMAS.items():
        check(node, group)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("head.activation=relux", "Invalid value 'relux', expected one of .*tanh.*full_key: head.activation"),
        ("data.balance=under", "Invalid value 'under'.*full_key: data.balance"),
        ("trainer.epochs=ten", "Value 'ten' of type 'str' could not be converted to Integer.*full_key: trainer.epochs"),
        ("eval.calibration.enabled=maybe", "full_key: eval.calibration.enabled"),
        ("eval.nokey=1", "Key 'nokey' not in 'EvalConfig'"),
    ],
)
def test_types_and_choices_are_checked_when_hydra_composes(override, message):
    with pytest.raises(ConfigCompositionException, match=f"(?s){message}"):
        compose([override])


def test_choices_read_as_plain_strings():
    cfg = compose(["eval.threshold_method=youden", "head.regularizer=l2"])
    assert cfg.eval.threshold_method == "youden" and str(cfg.eval.threshold_method) == "youden"
    assert f"{cfg.head.regularizer}" == "l2" and compose().head.regularizer is None
