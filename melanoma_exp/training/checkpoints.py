"""Run-folder checkpoints and the small state file that makes an interrupted run resumable.

Layout inside the run folder::

    checkpoints/last.npz     model weights + optimizer state after the latest finished epoch
    checkpoints/best.npz     the weights at the best `trainer.monitor` value so far
    checkpoints/state.json   {"epoch": finished epochs, "phase", "best", "best_epoch", "boundary_epoch",
                              "history": per-epoch contract metrics, "mlflow_run_id", "finished"}

A checkpoint holds arrays only (`model/<i>`, `optimizer/<i>` in the variables' own order), not a
`.keras` file: the model is rebuilt from the run's config on resume (the same `build_model`), put in
the saved phase, and the arrays are assigned back. Writing one takes a few hundredths of a second,
where `model.save` spends ~0.3 s per epoch in Keras's object-graph bookkeeping (bench_trainer). The
finished model is the one logged to MLflow and exported.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class RunState:
    """What a resumed run needs to continue at the right epoch and phase."""

    epoch: int = 0  # number of finished epochs (= the next 0-based epoch to run)
    phase: int = 0
    best: float | None = None
    best_epoch: int | None = None
    boundary_epoch: int | None = None  # first epoch of phase 1 (None: never unfrozen)
    history: list[dict] = field(default_factory=list)  # one dict of contract metrics per epoch
    mlflow_run_id: str | None = None
    finished: bool = False


class Checkpoints:
    """Paths and (atomic) reads/writes of a run folder's checkpoints."""

    def __init__(self, run_dir: Path):
        self.dir = Path(run_dir) / "checkpoints"
        self.last = self.dir / "last.npz"
        self.best = self.dir / "best.npz"
        self.state_file = self.dir / "state.json"

    def load_state(self) -> RunState | None:
        """The saved state, or None when the folder holds no resumable run."""
        if not (self.state_file.is_file() and self.last.is_file()):
            return None
        data = json.loads(self.state_file.read_text())
        return RunState(**data)

    def save_state(self, state: RunState) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(state), indent=1))
        os.replace(tmp, self.state_file)

    def save_model(self, model, path: Path) -> None:
        """Write the model's weights and its optimizer's state atomically (a kill mid-write never
        leaves a broken checkpoint)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        arrays = {f"model/{i}": v.numpy() for i, v in enumerate(model.weights)}
        if model.optimizer is not None and model.optimizer.built:
            arrays.update({f"optimizer/{i}": v.numpy() for i, v in enumerate(model.optimizer.variables)})
        tmp = path.with_name(path.stem + ".tmp.npz")
        with open(tmp, "wb") as handle:
            np.savez(handle, **arrays)
        os.replace(tmp, path)

    @staticmethod
    def restore(model, path: Path, *, optimizer: bool = True) -> None:
        """Assign a checkpoint back to a model built by the same config (and, with `optimizer`,
        compiled for the same phase). A mismatch names the variable instead of training on."""
        with np.load(path) as data:
            _assign("model", model.weights, data, path)
            if optimizer:
                if not model.optimizer.built:
                    model.optimizer.build(model.trainable_variables)
                _assign("optimizer", model.optimizer.variables, data, path)

    def copy_last_to_best(self) -> None:
        """`best.npz` := `last.npz` (atomically).

        A hard link where the file system allows it (no bytes copied; safe because `save_model`
        replaces `last.npz` with a new file rather than writing into it), else a copy.
        """
        tmp = self.best.with_name(self.best.stem + ".tmp.npz")
        tmp.unlink(missing_ok=True)
        try:
            os.link(self.last, tmp)
        except OSError:
            shutil.copyfile(self.last, tmp)
        os.replace(tmp, self.best)


def _assign(prefix: str, variables, data, path: Path) -> None:
    saved = sorted((k for k in data.files if k.startswith(prefix + "/")), key=lambda k: int(k.split("/")[1]))
    if len(saved) != len(variables):
        raise ValueError(f"{path}: holds {len(saved)} {prefix} variables, the rebuilt model has "
                         f"{len(variables)}: the run's config (model, head, unfreeze) changed since it was "
                         "saved. Start a new run folder or set trainer.resume=false.")
    for key, variable in zip(saved, variables, strict=True):
        value = data[key]
        if tuple(value.shape) != tuple(variable.shape):
            raise ValueError(f"{path}: {key} has shape {value.shape}, {variable.path} needs "
                             f"{tuple(variable.shape)}: the run's config changed since it was saved.")
        variable.assign(value)
