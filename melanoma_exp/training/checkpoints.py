"""Run-folder checkpoints and the small state file that makes an interrupted run resumable.

Layout inside the run folder::

    checkpoints/last.keras   full model + optimizer state after the latest finished epoch
    checkpoints/best.keras   the model at the best `trainer.monitor` value so far
    checkpoints/state.json   {"epoch": finished epochs, "phase", "best", "best_epoch", "boundary_epoch",
                              "history": per-epoch contract metrics, "mlflow_run_id", "finished"}
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path


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
        self.last = self.dir / "last.keras"
        self.best = self.dir / "best.keras"
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
        """Save atomically, so a kill mid-write never leaves a broken `last.keras`."""
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.stem + ".tmp.keras")
        model.save(tmp)
        os.replace(tmp, path)

    def copy_last_to_best(self) -> None:
        """`best.keras` := `last.keras` (atomically).

        A hard link where the file system allows it (no bytes copied; safe because `save_model`
        replaces `last.keras` with a new file rather than writing into it), else a copy.
        """
        tmp = self.best.with_name(self.best.stem + ".tmp.keras")
        tmp.unlink(missing_ok=True)
        try:
            os.link(self.last, tmp)
        except OSError:
            shutil.copyfile(self.last, tmp)
        os.replace(tmp, self.best)


def copy_weights_by_path(source, target) -> None:
    """Assign every variable of `target` from the same-path variable of `source`.

    Matching by path (not by list order) is robust to different trainable flags between the two.
    """
    values = {v.path: v for v in source.weights}
    for variable in target.weights:
        if variable.path in values:
            variable.assign(values[variable.path])
