"""Extract the shell commands of the docs and check each one cheaply (for tests/test_docs_commands.py).

`docs_commands()` reads the fenced `bash`/`sh`/`console` blocks of README.md, docs/*.md and the
top-level folders' READMEs (continuation lines joined, comments stripped, pipes and `&&` split).
`check_command()` checks one of them for real without running anything expensive:

- `python run.py OVERRIDES` and `melanoma data prepare OVERRIDES`: composed with Hydra's compose API
  and validated (every value of a sweep expression such as `choice(64,128)` is composed once);
- `melanoma ...`: parsed by the real CLI parser (`melanoma_exp.commands.main.build_parser`);
- `python -m MODULE ...`: the module's own argparse parser parses the arguments (it is stopped there);
- `mlflow ...`: parsed by its click command tree;
- `make ...`: `make -n` must succeed;
- anything else must be in `NOT_RUN_HERE` with the reason it cannot run on this machine, so a new
  kind of command in the docs has to be classified here.

A `yaml` block whose first line names a config file (`# experiments/NAME.yaml`,
`# conf/GROUP/NAME.yaml`) is an example a person is told to write: `documented_configs()` stores it in
Hydra's ConfigStore while the commands are checked, so `+experiment=NAME` in the docs composes it.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import importlib.util
import os
import re
import runpy
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from melanoma_exp.commands.main import build_parser
from melanoma_exp.config import compose
from melanoma_exp.paths import experiments_dir, project_root
from melanoma_exp.sweep.report import experiment_name
from melanoma_exp.training.validate import validate_config

ROOT = project_root()
# The docs-command tests themselves do not count as running a documented command.
NOT_EXERCISING = {Path(__file__).resolve(), Path(__file__).with_name("test_docs_commands.py").resolve()}
SHELL_LANGUAGES = {"bash", "sh", "shell", "console", "zsh"}
OPERATORS = {"|", "||", "&&", ";", "&"}

# Programs the docs name that cannot run on this machine (no Docker, no cloud, no Android SDK, no
# network). Every entry says why and where the same behaviour is tested instead.
NOT_RUN_HERE = {
    "docker": "needs a Docker daemon; the image's entrypoint runs under AWS's runtime client in "
              "tests/serving/test_serving_lambda.py and the Dockerfile is checked by test_serving_packaging",
    "aws": "needs an AWS account and the network",
    "curl": "talks to a server a person started; tests/serving sends the same requests to the real app",
    "./gradlew": "needs the Android SDK and Gradle; the app's Kotlin core runs in `make mobile-test`",
    "adb": "needs an Android device or emulator",
    "sbatch": "needs a SLURM cluster",
    "psql": "needs a PostgreSQL server",
    "isic": "its option types query the ISIC API while parsing; the command the project runs is "
            "checked by `melanoma data download --print-command` in tests/data/test_isic_download.py",
    "nvidia-smi": "needs an NVIDIA GPU",
    "python -c": "one-off snippets (the ImageNet weights download needs the network)",
    "pip": "installs packages from the network into the environment",
    "cd": "shell builtin (the commands after it are checked on their own)",
    "wait": "shell builtin",
    "export": "shell builtin (sets variables for the commands after it)",
}

# Click command trees whose options are checked by parsing, without invoking the command.
CLICK_PROGRAMS = {"mlflow": ("mlflow.cli", "cli")}

# Hydra's own flags for run.py (value-taking ones first).
HYDRA_FLAGS_WITH_VALUE = {"--cfg", "-c", "--package", "-p", "--config-path", "-cp", "--config-name",
                          "-cn", "--config-dir", "-cd", "--experimental-rerun", "--info", "-i"}
HYDRA_FLAGS = {"--multirun", "-m", "--resolve", "--run", "-r", "--help", "-h", "--hydra-help"}



@dataclasses.dataclass(frozen=True)
class DocCommand:
    file: str  # relative to the project root
    line: int
    text: str  # one simple command: no operators, comments, or continuation backslashes

    @property
    def id(self) -> str:
        return f"{self.file}:{self.line}: {self.text[:60]}"


# --------------------------------------------------------------------------------------------------
# Extraction


def doc_files() -> list[Path]:
    """README.md, docs/*.md and the READMEs of the top-level folders (app, serving, plugins)."""
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    files += sorted(p for p in ROOT.glob("*/README.md") if not p.parent.name.startswith("."))
    return [p for p in files if p.is_file()]


def strip_comment(line: str) -> str:
    """Drop a shell comment: `#` at the start of a word and outside quotes (bash's rule)."""
    quote = None
    for i, char in enumerate(line):
        if quote:
            if char == quote:
                quote = None
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def shell_lines(markdown: str) -> Iterator[tuple[int, str]]:
    """(first line number, logical command line) for every command in a shell code block."""
    language, pending, start = None, "", 0
    for number, raw in enumerate(markdown.splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith(("```", "~~~")):
            language = stripped[3:].strip().lower() if language is None else None
            continue
        if language not in SHELL_LANGUAGES:
            continue
        if language == "console" and not pending:
            if not stripped.startswith("$ "):
                continue  # program output
            stripped = stripped[2:]
        text = strip_comment(stripped)
        if not pending:
            start = number
        if text.endswith("\\"):
            pending += text[:-1] + " "
            continue
        logical, pending = (pending + text).strip(), ""
        if logical:
            yield start, logical


def split_simple_commands(line: str) -> Iterator[str]:
    """Simple commands of a line: `$(...)` substitutions first, then split at |, &&, ;, &."""
    for inner in re.findall(r"\$\(([^()]*)\)", line):
        yield from split_simple_commands(inner)
    line = re.sub(r"\$\([^()]*\)", "SUBSTITUTION", line)
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    lexer.commenters = ""
    words: list[str] = []
    for token in lexer:
        if token in OPERATORS:
            if words:
                yield shlex.join(words)
            words = []
        else:
            words.append(token)
    if words:
        yield shlex.join(words)


def docs_commands() -> list[DocCommand]:
    commands = []
    for path in doc_files():
        for number, line in shell_lines(path.read_text(encoding="utf8")):
            for text in split_simple_commands(line):
                commands.append(DocCommand(str(path.relative_to(ROOT)), number, text))
    return commands


CONFIG_EXAMPLE = re.compile(r"#\s*(experiments|conf/(\w+))/(\w+)\.yaml\s*$")


@dataclasses.dataclass(frozen=True)
class DocConfig:
    file: str
    line: int
    group: str  # experiment, sweep, model, ...
    name: str
    text: str


def yaml_blocks(markdown: str) -> Iterator[tuple[int, str]]:
    """(line of the first line, text) of every fenced yaml block."""
    block, start = None, 0
    for number, raw in enumerate(markdown.splitlines(), 1):
        stripped = raw.strip()
        if stripped.startswith(("```", "~~~")):
            if block is None and stripped[3:].strip().lower() in ("yaml", "yml"):
                block, start = [], number + 1
            elif block is not None:
                yield start, "\n".join(block)
                block = None
            continue
        if block is not None:
            block.append(raw)


def documented_configs() -> list[DocConfig]:
    """The config files the docs show as examples to write (first line `# experiments/NAME.yaml`)."""
    examples = []
    for path in doc_files():
        for number, text in yaml_blocks(path.read_text(encoding="utf8")):
            match = CONFIG_EXAMPLE.fullmatch(text.lstrip().splitlines()[0].strip()) if text.strip() else None
            if match:
                group = "experiment" if match.group(1) == "experiments" else match.group(2)
                examples.append(DocConfig(str(path.relative_to(ROOT)), number, group, match.group(3), text))
    return examples


@contextlib.contextmanager
def stored_configs(examples: list[DocConfig]) -> Iterator[None]:
    """Make the examples composable (`+experiment=NAME`) through Hydra's ConfigStore, then remove them."""
    import yaml
    from hydra.core.config_store import ConfigStore

    store = ConfigStore.instance()
    for example in examples:
        real = (experiments_dir() if example.group == "experiment" else ROOT / "conf" / example.group)
        assert not (real / f"{example.name}.yaml").exists(), (
            f"{example.file}:{example.line}: the example {example.name!r} is shadowed by a real file")
        package = "_global_" if "# @package _global_" in example.text else None
        store.store(group=example.group, name=example.name, node=yaml.safe_load(example.text), package=package)
    try:
        yield
    finally:
        for example in examples:
            store.repo.get(example.group, {}).pop(f"{example.name}.yaml", None)


# --------------------------------------------------------------------------------------------------
# Classification


ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def program_and_args(words: list[str]) -> tuple[str, list[str]]:
    """('melanoma' | 'make' | 'run.py' | 'python -m' | 'python -c' | other program, arguments)."""
    while words and ASSIGNMENT.match(words[0]):
        words = words[1:]  # VAR=value prefixes (environment for the command)
    if not words:
        return "", []
    program, args = words[0], words[1:]
    name = Path(program).name
    if name == "melanoma":
        return "melanoma", args
    if name in ("make", "$(MAKE)"):
        return "make", args
    if re.fullmatch(r"python(3(\.\d+)?)?", name):
        if args and args[0] == "run.py":
            return "run.py", args[1:]
        if args and args[0] in ("-m", "-c"):
            if args[0] == "-m" and len(args) > 1 and args[1] == "melanoma_exp.commands.main":
                return "melanoma", args[2:]
            return f"python {args[0]}", args[1:]
    return program, args


# --------------------------------------------------------------------------------------------------
# Checks, one per kind


def sweep_variants(overrides: list[str]) -> list[list[str]]:
    """Plain override lists covering every value of each sweep expression (others at their first)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(overrides)
    options: list[list[str]] = []
    for override, text in zip(parsed, overrides, strict=True):
        if not override.is_sweep_override():
            options.append([text])
            continue
        sweep = override.value()
        if hasattr(sweep, "start") and not hasattr(sweep, "stop"):  # interval(a, b): both ends
            values = [str(sweep.start), str(sweep.end)]
        else:
            values = list(override.sweep_string_iterator())
        options.append([f"{override.get_key_element()}={value}" for value in values])
    first = [values[0] for values in options]
    variants = [first]
    for i, values in enumerate(options):
        variants += [first[:i] + [value] + first[i + 1:] for value in values[1:]]
    return variants


def compose_and_validate(overrides: list[str]) -> None:
    """Compose (every sweep value once), resolve and validate, as run.py would before training."""
    for variant in sweep_variants(overrides):
        cfg = compose(variant)
        OmegaConf.resolve(cfg)
        validate_config(cfg)


@functools.cache
def documented_study_names() -> frozenset[str]:
    """The study names the docs' `+sweep=...` commands create (what best_<study>.yaml is named from)."""
    names = set()
    for command in docs_commands():
        kind, args = program_and_args(shlex.split(command.text))
        overrides = hydra_overrides(args) if kind == "run.py" else []
        if any(o.startswith("+sweep=") for o in overrides):
            plain = [o for o in sweep_variants(without_optional_launcher(overrides))[0]
                     if not o.startswith("+experiment=best_")]
            names.add(str(OmegaConf.select(compose(plain), "sweep.study_name")))
    return frozenset(names)


def without_optional_launcher(overrides: list[str]) -> list[str]:
    """Drop a Hydra launcher the docs tell people to install (submitit on SLURM) when it is not here."""
    launcher = next((o.split("=", 1)[1] for o in overrides if o.startswith("hydra/launcher=")), None)
    if launcher is None or importlib.util.find_spec(f"hydra_plugins.hydra_{launcher.split('_')[0]}_launcher"):
        return overrides
    return [o for o in overrides if not o.startswith(("hydra/launcher=", "hydra.launcher."))]


def hydra_overrides(args: list[str]) -> list[str]:
    """run.py's arguments without Hydra's own flags; an unknown flag fails."""
    overrides, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in HYDRA_FLAGS_WITH_VALUE:
            skip = True
        elif arg in HYDRA_FLAGS:
            pass
        elif arg.startswith("-"):
            pytest.fail(f"`python run.py` has no flag {arg!r}")
        else:
            overrides.append(arg)
    return overrides


def check_run_py(args: list[str]) -> None:
    overrides = []
    for override in hydra_overrides(args):
        generated = re.fullmatch(r"\+experiment=(best_\w+)", override)
        if generated and not (experiments_dir() / f"{generated.group(1)}.yaml").exists():
            # Written by a sweep: the name must be what a documented sweep writes.
            written = {experiment_name(study) for study in documented_study_names()}
            assert generated.group(1) in written, f"no documented sweep writes {generated.group(1)}: {written}"
            continue
        overrides.append(override)
    compose_and_validate(without_optional_launcher(overrides))


def parse_cli(args: list[str]) -> argparse.Namespace:
    """The real `melanoma` parser; an unknown command or option fails with argparse's message."""
    try:
        return build_parser().parse_args(args)
    except SystemExit as exc:
        pytest.fail(f"`melanoma {shlex.join(args)}` does not parse (exit {exc.code}); see stderr above")


def check_melanoma(args: list[str]) -> None:
    namespace = parse_cli(args)
    assert getattr(namespace, "func", None), f"`melanoma {shlex.join(args)}` names no command"
    if getattr(namespace, "overrides", None) is not None:  # melanoma data prepare OVERRIDES
        compose_and_validate(list(namespace.overrides))


class _Parsed(Exception):
    """Raised instead of running a module once its arguments parsed."""


def check_module(module: str, args: list[str], monkeypatch) -> None:
    """Run `python -m module args` up to its argparse parse, then stop it."""
    monkeypatch.syspath_prepend(str(ROOT))
    spec = importlib.util.find_spec(module)
    assert spec is not None, f"no module {module!r}"
    main_spec = importlib.util.find_spec(f"{module}.__main__") if spec.submodule_search_locations else spec
    assert main_spec is not None, f"{module!r} is a package without __main__"
    source = main_spec.loader.get_source(main_spec.name)
    assert "parse_args(" in source, f"{module!r} parses no arguments: classify it in this test"
    original = argparse.ArgumentParser.parse_args

    def parse_then_stop(self, args=None, namespace=None):
        raise _Parsed(original(self, args, namespace))

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse_then_stop)
    monkeypatch.setattr(sys, "argv", [module, *args])
    if spec.submodule_search_locations:  # run `package.__main__` afresh, as `python -m` does
        monkeypatch.delitem(sys.modules, main_spec.name, raising=False)
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except _Parsed:
        return
    except SystemExit as exc:
        pytest.fail(f"`python -m {module} {shlex.join(args)}` does not parse (exit {exc.code})")
    pytest.fail(f"`python -m {module}` finished without parsing arguments: classify it in this test")


def check_click(program: str, args: list[str]) -> None:
    import click

    module, attribute = CLICK_PROGRAMS[program]
    command = getattr(importlib.import_module(module), attribute)
    try:
        context = command.make_context(program, list(args), resilient_parsing=False)
        while isinstance(context.command, click.Group) and context.protected_args + context.args:
            rest = [*context.protected_args, *context.args]
            sub_name, sub, sub_args = context.command.resolve_command(context, rest)
            context = sub.make_context(sub_name, sub_args, parent=context)
    except click.ClickException as exc:
        pytest.fail(f"`{program} {shlex.join(args)}`: {exc.format_message()}")


def make_dry_run(args: list[str]) -> subprocess.CompletedProcess:
    # as if typed in a shell: under `make test` the parent make's MAKELEVEL/MAKEFLAGS would turn
    # "make:" messages into "make[1]:" and pass its flags down
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    env["PWD"] = str(ROOT)
    args = [os.path.expandvars(a) if "$PWD" in a else a for a in args]
    return subprocess.run(["make", "-n", "--no-print-directory", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)


def check_make(args: list[str]) -> None:
    proc = make_dry_run(args)
    assert proc.returncode == 0, f"`make -n {shlex.join(args)}` failed:\n{proc.stderr[-2000:]}"


def assert_keys_exist(example: DocConfig) -> None:
    """Every value the example sets names an existing key (Hydra would silently add a misspelt one)."""
    import yaml

    body = yaml.safe_load(example.text)
    base = []
    for entry in body.pop("defaults", []):
        if isinstance(entry, dict):
            base += [f"{k.removeprefix('override /')}={v}" for k, v in entry.items()]
        elif entry != "_self_":
            base.append(f"+{example.group}={entry}")
    body.pop("hydra", None)  # Hydra's own node (launcher, sweeper params) is not in the job config
    cfg = compose(base)
    leaves = OmegaConf.to_container(OmegaConf.create(body))
    unknown = [key for key in _leaf_keys(leaves) if OmegaConf.select(cfg, key, default="<missing>") == "<missing>"]
    assert not unknown, f"{example.file}:{example.line}: {example.group}/{example.name} sets unknown keys {unknown}"


def _leaf_keys(node: dict, prefix: str = "") -> Iterator[str]:
    for key, value in node.items():
        if isinstance(value, dict) and value:
            yield from _leaf_keys(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}"


def check_config_example(example: DocConfig) -> None:
    """An example config composes and validates; a sweep example's search space parses and composes."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from melanoma_exp.paths import conf_dir
    from melanoma_exp.sweep.space import parse_space

    selected = [f"+{example.group}={example.name}"]
    compose_and_validate(selected)
    assert_keys_exist(example)
    if example.group != "sweep":
        return
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf_dir()), version_base="1.3"):
        sweeper = hydra_compose(config_name="config", overrides=selected, return_hydra_config=True).hydra.sweeper
    params = OmegaConf.to_container(sweeper.params)
    parse_space(params, OmegaConf.to_container(sweeper.get("conditions") or {}))
    compose_and_validate(selected + [f"{key}={value}" for key, value in params.items()])


def check_command(command: DocCommand, monkeypatch) -> None:
    """Check one documented command by its kind; fail for a program this module does not know."""
    kind, args = program_and_args(shlex.split(command.text))
    if kind == "":
        return  # VAR=value only (a substitution in it is a command of its own)
    if kind == "run.py":
        check_run_py(args)
    elif kind == "melanoma":
        check_melanoma(args)
    elif kind == "python -m":
        check_module(args[0], args[1:], monkeypatch)
    elif kind == "make":
        check_make(args)
    elif kind in CLICK_PROGRAMS:
        check_click(kind, args)
    else:
        assert kind in NOT_RUN_HERE or Path(kind).name in NOT_RUN_HERE, (
            f"{command.file}:{command.line}: `{command.text}`: `{kind}` is not a command tests/doc_commands.py "
            "knows. Check it like the others, or add it to NOT_RUN_HERE with the reason it cannot run here.")


# --------------------------------------------------------------------------------------------------
# What the docs name, and whether a test runs it


def cli_command_path(args: list[str]) -> tuple[str, ...]:
    """('data', 'prepare') for `melanoma data prepare data=isic`: the chain of sub-command names."""
    parser, path = build_parser(), []
    for word in args:
        subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subparsers or word not in subparsers[0].choices:
            break
        parser = subparsers[0].choices[word]
        path.append(word)
    return tuple(path)


def make_targets(args: list[str]) -> list[str]:
    targets, skip = [], False
    for arg in args:
        if skip:
            skip = False
        elif arg in ("-C", "-f", "-o", "-W"):
            skip = True
        elif not arg.startswith("-") and "=" not in arg:
            targets.append(arg)
    return targets


def documented(kind: str, commands: list[DocCommand]) -> dict[tuple[str, ...], str]:
    """The `melanoma` sub-commands or `make` targets the commands name, with where each is first named."""
    found: dict[tuple[str, ...], str] = {}
    for command in commands:
        program, args = program_and_args(shlex.split(command.text))
        if program == kind == "melanoma":
            found.setdefault(cli_command_path(args), command.id)
        elif program == kind == "make" and "-C" not in args:
            for target in make_targets(args):
                found.setdefault((target,), command.id)
    return found


@functools.cache
def sources_of_the_tests() -> str:
    files = sorted(p for p in (ROOT / "tests").rglob("*.py") if p.resolve() not in NOT_EXERCISING)
    return "\n".join(p.read_text(encoding="utf8") for p in files)


def quoted_sequence(words: tuple[str, ...]) -> str:
    """Regex: the words as consecutive string literals of an argv list, e.g. "data", "prepare"."""
    return r"\s*,\s*".join(rf"[\"']{re.escape(w)}[\"']" for w in words)


def exercised_cli(path: tuple[str, ...], sources: str) -> bool:
    argv = rf"[\[(,]\s*{quoted_sequence(path)}\s*[,\])]"
    return bool(re.search(argv, sources) or re.search(rf"\bmelanoma {' '.join(path)}\b", sources))


def exercised_make(target: str, sources: str) -> bool:
    argv = rf"[\"']make[\"'][^\]\n]*?[\"']{re.escape(target)}[\"']"
    return bool(re.search(argv, sources) or re.search(rf"\bmake (-\S+ )*{re.escape(target)}\b", sources))
