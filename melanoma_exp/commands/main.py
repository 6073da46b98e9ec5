"""The `melanoma` console script: a thin dispatcher.

Each area of the library owns its sub-commands in its own `cli.py` module exposing
`register(subparsers)`; this file only wires them together. Heavy imports (TensorFlow, MLflow) happen
inside the command functions, so `melanoma --help` answers instantly.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from melanoma_exp.console import quiet_native_logs
from melanoma_exp.training.runtime import start_backend

# Modules that add sub-commands, in the order they appear in `melanoma --help`.
COMMAND_MODULES = [
    "melanoma_exp.commands.data",  # melanoma data synth|download|prepare
    "melanoma_exp.commands.registry",  # melanoma register|promote|export
    "melanoma_exp.commands.serve",  # melanoma serve
    "melanoma_exp.commands.ui",  # melanoma ui
    "melanoma_exp.commands.ensemble",  # melanoma ensemble
    "melanoma_exp.commands.compare_robustness",  # melanoma compare-robustness
    "melanoma_exp.commands.evaluate",  # melanoma evaluate
    "melanoma_exp.commands.explain",  # melanoma explain
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="melanoma",
        description="melanoma-exp: data, registry, export, serving and dashboards. "
        "Training and sweeps run through `python run.py` (Hydra). Not medical advice.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # that area is not installed in this build
            if exc.name and name.startswith(exc.name):
                continue
            raise
        module.register(subparsers)
    return parser


# Sub-commands that load TensorFlow: started first, with its start-up notices filtered.
BACKEND_COMMANDS = {"export", "ensemble", "compare-robustness", "evaluate"}


def main(argv: list[str] | None = None) -> int:
    quiet_native_logs()
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    if args.command in BACKEND_COMMANDS:
        start_backend()
    try:
        result = args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
