"""Where the project lives, so every store and folder can be an absolute path.

MLflow and Optuna default to paths relative to the process cwd; we never rely on that. The project
root is `$MELANOMA_ROOT` when set, else the checkout this package was installed from (editable
install: the folder holding `conf/`), else the current directory.
"""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_PARENT = Path(__file__).resolve().parent.parent


def project_root() -> Path:
    """Return the absolute project root (see module docstring)."""
    env = os.environ.get("MELANOMA_ROOT")
    if env:
        return Path(env).expanduser().resolve()
    if (_PACKAGE_PARENT / "conf" / "config.yaml").is_file():
        return _PACKAGE_PARENT
    return Path.cwd().resolve()


def conf_dir() -> Path:
    """The `conf/` folder of building blocks."""
    return project_root() / "conf"


def experiments_dir() -> Path:
    """The top-level `experiments/` folder of complete recipes (`+experiment=NAME`)."""
    return project_root() / "experiments"


def cache_dir() -> Path:
    """Where fetched or converted files are kept (pinned PyPI archives, converted pretrained weights):
    ``$MELANOMA_CACHE`` or ``~/.cache/melanoma-exp``."""
    return Path(os.environ.get("MELANOMA_CACHE") or Path.home() / ".cache" / "melanoma-exp")
