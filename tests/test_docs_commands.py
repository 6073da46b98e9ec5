"""Every shell command in the docs still works as written, and a test runs it.

Each command in a fenced `bash`/`sh`/`console` block of README.md, docs/*.md and the top-level
folders' READMEs is checked by its kind (tests/doc_commands.py: Hydra overrides composed, `melanoma`
and `python -m` arguments parsed by the real parsers, `make -n TARGET`); a program that cannot run
here must be listed with its reason. Then every `melanoma` sub-command and `make` target the docs
name must be run by some other test file. The last tests show that each check can fail.
"""

from __future__ import annotations

import functools
import shlex

import pytest
from doc_commands import (
    DocCommand,
    DocConfig,
    check_click,
    check_command,
    check_config_example,
    check_make,
    check_melanoma,
    check_module,
    check_run_py,
    docs_commands,
    documented,
    documented_configs,
    exercised_cli,
    exercised_make,
    program_and_args,
    shell_lines,
    sources_of_the_tests,
    split_simple_commands,
    stored_configs,
)
from hydra.errors import ConfigCompositionException, MissingConfigException

from melanoma_exp.training.validate import ConfigError

# Make targets the docs name that no test can run, with the reason.
MAKE_TARGETS_NOT_IN_TESTS = {"test": "the test suite itself runs this file"}

COMMANDS = docs_commands()
CONFIGS = documented_configs()


@pytest.fixture(scope="module", autouse=True)
def _documented_config_examples():
    """The config files the docs tell people to write exist (in Hydra's ConfigStore) during the checks."""
    with stored_configs(CONFIGS):
        yield


@pytest.mark.parametrize("example", CONFIGS, ids=[f"{c.file}:{c.line}: {c.group}/{c.name}" for c in CONFIGS])
def test_docs_config_example_composes(example: DocConfig):
    check_config_example(example)


def test_the_docs_have_commands_to_check():
    kinds = {program_and_args(shlex.split(c.text))[0] for c in COMMANDS}
    assert {"make", "melanoma", "run.py", "python -m"} <= kinds, kinds


@pytest.mark.parametrize("command", COMMANDS, ids=[c.id for c in COMMANDS])
def test_docs_command_is_valid(command: DocCommand, monkeypatch):
    check_command(command, monkeypatch)


def test_every_documented_melanoma_command_is_exercised_by_a_test():
    sources = sources_of_the_tests()
    commands = documented("melanoma", COMMANDS)
    assert commands, "the docs name no melanoma command"
    missing = {" ".join(p): where for p, where in commands.items() if not exercised_cli(p, sources)}
    assert not missing, f"documented but no test runs them: {missing}"


def test_every_documented_make_target_is_exercised_by_a_test():
    sources = sources_of_the_tests()
    targets = documented("make", COMMANDS)
    assert targets, "the docs name no make target"
    missing = {t: where for (t,), where in targets.items()
               if t not in MAKE_TARGETS_NOT_IN_TESTS and not exercised_make(t, sources)}
    assert not missing, f"documented but no test runs them: {missing}"


# ---- the checker itself: each kind of check can fail

MARKDOWN_SAMPLE = """
Text with `make nothing` inline is not a command.

```bash
make demo   # a comment
python run.py model=densenet201 \\
    head.units=512   # continued
AWS=1 docker build . && echo '# not a comment' | tee x
```

```console
$ melanoma ui --mlflow-port 5001
output line that is not a command
```

```
melanoma serve   # an unlabelled block: a diagram, not commands
```
"""


def test_extraction_joins_continuations_strips_comments_and_splits_operators():
    lines = list(shell_lines(MARKDOWN_SAMPLE))
    assert [n for n, _ in lines] == [5, 6, 8, 12]
    simple = [c for _, line in lines for c in split_simple_commands(line)]
    assert simple == ["make demo", "python run.py model=densenet201 head.units=512",
                      "AWS=1 docker build .", "echo '# not a comment'", "tee x",
                      "melanoma ui --mlflow-port 5001"]
    assert list(split_simple_commands("A=$(aws sts get-caller-identity) && b")) == [
        "aws sts get-caller-identity", "A=SUBSTITUTION", "b"]


@pytest.mark.parametrize(("check", "broken", "error", "message"), [
    (check_run_py, ["model=densnet201"], MissingConfigException, "densnet201"),  # renamed option
    (check_run_py, ["+sweep=optuna", "sweep.pruner.lowr=0.8"], ConfigCompositionException, "lowr"),
    (check_run_py, ["+sweep=optuna", "head.regularizer=choice(l1,l3)"], ConfigCompositionException, "l3"),  # 2nd value
    (check_run_py, ["+experiment=best_nobody_synthetic"], AssertionError, "no documented sweep"),
    (check_run_py, ["--cfgg", "job"], pytest.fail.Exception, "no flag"),
    (check_melanoma, ["serve", "--prot", "8000"], pytest.fail.Exception, "does not parse"),
    (check_melanoma, ["data", "prepare", "data.balanse=none"], ConfigCompositionException, "balanse"),
    (check_make, ["no-such-target"], AssertionError, "No rule to make target"),
    (functools.partial(check_click, "mlflow"), ["server", "--prot", "5000"], pytest.fail.Exception, "--prot"),
], ids=lambda value: value if isinstance(value, str) else None)
def test_each_check_fails_on_a_broken_command(check, broken, error, message):
    with pytest.raises(error, match=message):
        check(broken)


@pytest.mark.parametrize(("yaml_text", "error", "message"), [
    ("tracking:\n  experiment_nam: x\n", AssertionError, "unknown keys \\['tracking.experiment_nam'\\]"),  # no schema: Hydra adds it
    ("head:\n  unitz: 3\n", ConfigCompositionException, "Key 'unitz' not in 'HeadConfig'"),  # the schema refuses it
    ("defaults:\n  - override /model: densnet201\n", MissingConfigException, "densnet201"),
    ("unfreeze:\n  fraction: 1.5\n", ConfigError, "unfreeze.fraction"),
])
def test_a_broken_config_example_fails(yaml_text, error, message):
    example = DocConfig("docs/x.md", 1, "experiment", "broken_example",
                        "# experiments/broken_example.yaml\n# @package _global_\n" + yaml_text)
    with stored_configs([example]), pytest.raises(error, match=message):
        check_config_example(example)


def test_module_check_fails_on_an_unknown_option(monkeypatch):
    with pytest.raises(pytest.fail.Exception, match="does not parse"):
        check_module("bench.bench_pipeline", ["--nn", "3"], monkeypatch)


def test_an_unclassified_program_fails():
    command = DocCommand("docs/x.md", 1, "terraform apply")
    with pytest.raises(AssertionError, match="not a command tests/doc_commands.py knows"):
        check_command(command, None)


def test_mapping_needs_a_test_that_runs_the_command():
    sources = 'main(["data", "prepare", *overrides])\nrun(["make", "demo"], repo)\n'
    assert exercised_cli(("data", "prepare"), sources)
    assert not exercised_cli(("data", "synth"), sources)
    assert exercised_make("demo", sources) and not exercised_make("serve", sources)
