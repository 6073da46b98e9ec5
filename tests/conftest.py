"""Fixtures shared by every area's tests.

The data fixtures are *real*: `synthetic_raw` runs the synthetic generator (isic-cli layout) and
`prepared_small` runs `prepare_dataset` on it, once per test session (per xdist worker), in a
session temp folder. They are small on purpose (2 CPU cores are shared by the whole suite):
160 images at 64 px, prepared at 32 px, learnable by a tiny CNN within a few epochs.
"""

from __future__ import annotations

import os
import signal
import tempfile
import threading
import time
import warnings
from pathlib import Path

import pytest

# Set before anything imports TensorFlow, Keras or MLflow (pytest imports conftest first).
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# `import keras` writes ~/.keras/keras.json; keep the user's home clean.
os.environ.setdefault("KERAS_HOME", tempfile.mkdtemp(prefix="keras-home-"))

@pytest.fixture(autouse=True)
def _ctrl_c_reaches_child_processes(request):
    """Children started by a test get Ctrl-C as a terminal gives it. Seen once in CI (2 xdist
    workers): three tests on one worker sent SIGINT to their children and none reacted, as if the
    worker had been left with SIGINT ignored or blocked (both are inherited across exec) by something
    earlier in that process. Restore the default before each test and say which test changed it."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    blocked = signal.SIGINT in signal.pthread_sigmask(signal.SIG_BLOCK, set())
    handler = signal.getsignal(signal.SIGINT)
    if blocked or handler is not signal.default_int_handler:
        warnings.warn(f"{request.node.nodeid} left SIGINT {'blocked' if blocked else handler!r} in the test "
                      "process; restored for the next test", stacklevel=1)


# Settings of the shared small dataset (tests may read these to reason about expected sizes).
SMALL_N = 160
SMALL_RAW_SIZE = 64
SMALL_PREPARED_SIZE = 32
SMALL_SEED = 7


@pytest.fixture(scope="session")
def synthetic_raw(tmp_path_factory) -> Path:
    """A small raw folder in the isic-cli layout (contract 1) with marker masks.

    160 images at 64 px, 45 % malignant, a few Indeterminate rows, seed 7 (deterministic).
    Treat it as read-only: it is shared by the whole session.
    """
    from melanoma_exp.data.synth import generate_synthetic

    out = tmp_path_factory.mktemp("synthetic_raw") / "raw"
    return generate_synthetic(
        out, n=SMALL_N, size=SMALL_RAW_SIZE, seed=SMALL_SEED, malignant_fraction=0.45, masks=True
    )


def small_data_cfg(raw_dir: Path, prepared_root: Path, **overrides):
    """The `data` config node for a prepared folder of `raw_dir` (the real conf/data/synthetic.yaml).

    Loads the project's own data config and points it at tmp folders, without composing the rest
    of the project's config (so a broken model/trainer group cannot break data fixtures).
    """
    from omegaconf import OmegaConf

    from melanoma_exp.paths import conf_dir

    cfg = OmegaConf.load(conf_dir() / "data" / "synthetic.yaml")
    cfg.pop("defaults")  # the schema entry of the group's defaults list
    cfg.raw_dir = str(raw_dir)
    cfg.prepared_root = str(prepared_root)
    cfg.image_size = SMALL_PREPARED_SIZE
    cfg.batch_size = 16
    cfg.shard_size = 64
    cfg.balance = "none"
    for key, value in overrides.items():
        OmegaConf.update(cfg, key, value, merge=False)
    return cfg


@pytest.fixture(scope="session")
def data_cfg():
    """The factory `small_data_cfg(raw_dir, prepared_root, **overrides)` (dotted keys allowed).

    (A fixture because `tests` is not importable as a package: isic-cli installs its own.)
    """
    return small_data_cfg


@pytest.fixture(scope="session")
def prepared_small(synthetic_raw, tmp_path_factory) -> Path:
    """`synthetic_raw` prepared at 32 px (balance none, default 64/16/20 grouped split).

    Returns the prepared folder (contract 2: manifest.json, index.csv, shards/). Read-only.
    """
    from melanoma_exp.data.prepare import prepare_dataset

    root = tmp_path_factory.mktemp("prepared_small")
    return prepare_dataset(small_data_cfg(synthetic_raw, root), progress=False)


@pytest.fixture
def project_tmp(tmp_path) -> list[str]:
    """Hydra overrides that keep data and outputs of one test inside its tmp_path.

    Use as `compose([*project_tmp, "data.image_size=32", ...])`. `paths.root_dir` stays the
    checkout (conf/ and experiments/ are read from there).
    """
    data_dir = tmp_path / "data"
    output_dir = tmp_path / "outputs"
    data_dir.mkdir()
    output_dir.mkdir()
    return [f"paths.data_dir={data_dir}", f"paths.output_dir={output_dir}"]


# --- Tests never write into the checkout -------------------------------------------------------------
# Everything a test makes lives under tmp_path. At the end of the session every file of the checkout
# that was created or changed while the suite ran, and every new empty folder (a stray mkdir), is
# listed and the run fails. Left out: the
# environment, git's own folder, and mobile/'s build folders (the Kotlin suite's Makefile outputs).
# Editing sources while the suite runs trips it too: set MELANOMA_EDITING_WHILE_TESTING=1 then.
_CHECKOUT = Path(__file__).resolve().parents[1]
_NOT_WATCHED = {".venv", ".git", "__pycache__", ".pytest_cache", ".ruff_cache", "node_modules"}
_NOT_WATCHED_PATHS = {_CHECKOUT / "mobile" / "build"}


def _written_since(start: float) -> list[str]:
    found = []
    for folder, dirs, files in os.walk(_CHECKOUT):
        here = Path(folder)
        dirs[:] = [d for d in dirs if d not in _NOT_WATCHED and here / d not in _NOT_WATCHED_PATHS
                   and not d.endswith(".egg-info")]
        if not dirs and not files and here != _CHECKOUT:  # a new empty folder (a stray mkdir)
            try:
                if not os.listdir(here) and here.lstat().st_mtime > start:
                    found.append(str(here.relative_to(_CHECKOUT)) + "/")
            except FileNotFoundError:
                pass
        for name in files:  # a folder's mtime moves with any child (mobile/build, __pycache__)
            path = here / name
            try:
                if path.lstat().st_mtime > start:
                    found.append(str(path.relative_to(_CHECKOUT)))
            except FileNotFoundError:
                pass
    return sorted(found)


def pytest_sessionstart(session):
    session.config._checkout_clock = time.time()


def pytest_sessionfinish(session, exitstatus):
    if hasattr(session.config, "workerinput"):  # an xdist worker: the controller checks once
        return
    start = getattr(session.config, "_checkout_clock", None)
    if start is None or os.environ.get("MELANOMA_EDITING_WHILE_TESTING"):
        return
    written = _written_since(start)
    if written:
        print("\nERROR: tests wrote into the checkout (use tmp_path):\n  " + "\n  ".join(written[:30]))
        session.exitstatus = 1
