"""The make targets the docs name run the documented commands with the documented variables.

`make -n` prints a recipe without running it; the commands it would run are parsed by the same real
parsers as the docs' commands (tests/doc_commands.py), so a renamed option or variable fails here.
What each command then does is tested where it lives: `melanoma ui` in tests/sweep/test_sweep_ui.py,
`melanoma serve` in tests/export/test_export_serve_cli.py, `make demo` in tests/e2e/test_journey.py,
the mobile suite in tests/mobile, the Lambda entrypoint in tests/serving/test_serving_lambda.py.
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

from doc_commands import ROOT, check_module, docs_commands, make_dry_run, parse_cli, program_and_args
from omegaconf import OmegaConf

from melanoma_exp.config import compose

MAKEFILE = (ROOT / "Makefile").read_text(encoding="utf8")


def recipe(argv: list[str], setup_done: bool = True) -> list[list[str]]:
    """The commands `make ...` would run, split into words (setup assumed done unless told otherwise).

    Only this Makefile's own recipe lines: a sub-make's dry run (mobile/) is left out.
    """
    assert argv[0] == "make"
    assume = ["-o", ".venv/.installed"] if setup_done else ["-W", "requirements.lock"]
    proc = make_dry_run([*assume, *argv[1:]])
    assert proc.returncode == 0, proc.stderr
    own = []
    for line in filter(str.strip, proc.stdout.splitlines()):
        own.append(shlex.split(line))
        if line.startswith("make -C "):
            break  # what follows is the sub-make's own dry run
    return own


def melanoma_args(command: list[str]) -> list[str]:
    program, args = program_and_args(command)
    assert program == "melanoma", command
    assert command[0] == ".venv/bin/melanoma", "recipes run this environment's console script"
    return args


def test_make_help_lists_every_target():
    proc = subprocess.run(["make", "help"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    listed = set(re.findall(r"^\s+make (\S+)", proc.stdout, re.MULTILINE))
    phony = set(re.search(r"^\.PHONY:(.*)$", MAKEFILE, re.MULTILINE).group(1).split())
    assert listed == phony


def test_make_ui_starts_the_dashboards_on_the_given_ports():
    from melanoma_exp.commands.ui import run_ui

    (command,) = recipe(["make", "ui", "MLFLOW_PORT=5001", "OPTUNA_PORT=8081"])
    args = parse_cli(melanoma_args(command))
    assert (args.func, args.mlflow_port, args.optuna_port) == (run_ui, 5001, 8081)
    (default,) = recipe(["make", "ui"])
    assert parse_cli(melanoma_args(default)).mlflow_port == 5000


def test_make_serve_serves_on_host_and_port():
    from melanoma_exp.commands.serve import cmd_serve

    (command,) = recipe(["make", "serve", "HOST=0.0.0.0", "PORT=9000"])
    args = parse_cli(melanoma_args(command))
    assert (args.func, args.host, args.port, args.bundle) == (cmd_serve, "0.0.0.0", 9000, None)
    (default,) = recipe(["make", "serve"])
    args = parse_cli(melanoma_args(default))
    assert (args.host, args.port) == ("127.0.0.1", 8000)  # the address the docs open


def test_make_data_downloads_into_the_folder_prepare_reads():
    download, prepare = recipe(["make", "data"])
    download_args = parse_cli(melanoma_args(download))
    prepare_args = parse_cli(melanoma_args(prepare))
    assert (download_args.data_command, prepare_args.data_command) == ("download", "prepare")
    cfg = compose(list(prepare_args.overrides))
    OmegaConf.resolve(cfg)
    assert cfg.data.source == "isic"
    assert Path(cfg.data.raw_dir) == ROOT / download_args.out


def test_make_bench_runs_every_benchmark_the_docs_name(monkeypatch):
    from bench.__main__ import discover

    (command,) = recipe(["make", "bench"])
    assert command[1:] == ["-m", "bench"]
    check_module("bench", command[3:], monkeypatch)
    named = {args[1] for c in docs_commands() for program, args in [program_and_args(shlex.split(c.text))]
             if program == "python -m" and args[0] == "bench" and len(args) > 1}
    assert named and named <= set(discover())


def test_make_mobile_test_runs_the_mobile_suite_with_this_python():
    command = recipe(["make", "mobile-test"])[0]
    assert command[:4] == ["make", "-C", "mobile", "test"]
    python = Path(command[4].removeprefix("PY="))
    assert python.is_absolute() and python == ROOT / ".venv" / "bin" / "python"


def test_make_lambda_image_builds_the_image_the_deploy_docs_push():
    (command,) = recipe(["make", "lambda-image"])
    assert command[:4] == ["docker", "build", "-f", "serving/Dockerfile"]
    assert (ROOT / command[3]).is_file() and command[-1] == "."
    image = command[command.index("-t") + 1]
    docker = [shlex.split(c.text) for c in docs_commands() if c.text.startswith("docker ")]
    used = [w for words in docker if words[1] in ("run", "tag") for w in words if w.startswith(image)]
    assert used, f"the deploy docs never use the image {image!r} that make lambda-image builds"


def test_make_test_fast_skips_the_slow_tests():
    check_tools, command = recipe(["make", "test-fast"])
    assert check_tools == ["bash", ".ci/system-deps.sh"]
    assert command[1:3] == ["-m", "pytest"] and command[-2:] == ["-m", "not slow"]


def test_make_test_checks_the_system_tools_first_and_ends_with_the_durations_table():
    check_tools, command = recipe(["make", "test"])
    assert check_tools == ["bash", ".ci/system-deps.sh"]
    assert command[1:3] == ["-m", "pytest"] and any(w.startswith("--durations=") for w in command)


def test_make_setup_installs_exactly_the_lock_when_it_changes():
    commands = recipe(["make", "setup"], setup_done=False)
    installs = [c for c in commands if c[:4] == [".venv/bin/python", "-m", "pip", "install"]]
    assert installs[0][-2:] == ["-r", "requirements.lock"]
    assert installs[1][-3:] == ["--no-build-isolation", "-e", "."] and "--no-deps" in installs[1]
    assert ["touch", ".venv/.installed"] in commands
    assert ["bash", ".ci/system-deps.sh", "--warn"] in commands  # says what the tests will need, never fails
    assert recipe(["make", "setup"]) == [["make:", "Nothing", "to", "be", "done", "for", "setup."]]


def test_make_lint_checks_every_python_folder_and_ci_runs_it_before_the_tests():
    (command,) = recipe(["make", "lint"])
    assert command[0] == ".venv/bin/ruff" and command[1] == "check"
    assert set(command[2:]) == {"melanoma_exp", "hydra_plugins", "serving", "tests", "bench", "run.py"}
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert ci.index("make lint") < ci.index("make test")
