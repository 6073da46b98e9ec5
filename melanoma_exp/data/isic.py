"""Download the real ISIC archive with isic-cli, then check what actually arrived.

`isic image download` writes contract 1. This wrapper:
- runs it non-interactively: `--no-version-check` (otherwise it exits 1 whenever a new major
  isic-cli exists) and always an explicit `--limit` (with `--limit 0`, "everything", isic-cli asks
  an interactive disk-space question; a huge limit means the same without the prompt); stdin is
  closed, so any other prompt fails fast instead of hanging;
- keeps isic-cli's login tokens inside the project (`XDG_DATA_HOME=<project>/data/.isic-cli`);
- re-runs cheaply: isic-cli skips images already on disk with the expected size;
- validates every metadata.csv row against the files on disk, because isic-cli skips failed
  downloads silently, and reports missing / zero-byte / undecodable files by isic_id.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

from melanoma_exp.data.layout import ValidationReport, validate_raw
from melanoma_exp.paths import project_root

# Dermoscopic images with a benign or malignant diagnosis (Indeterminate ones are not fetched).
DEFAULT_SEARCH = "image_type:dermoscopic AND (diagnosis_1:Benign OR diagnosis_1:Malignant)"
# "All images" without isic-cli's interactive disk-space question (asked only for --limit 0).
ALL_IMAGES = 100_000_000


def isic_executable() -> str:
    """The `isic` script of this environment (next to the running Python), else the one on PATH."""
    local = Path(sys.executable).parent / "isic"
    if local.exists():
        return str(local)
    found = shutil.which("isic")
    if not found:
        raise FileNotFoundError("isic-cli is not installed: `pip install isic-cli` (see pyproject.toml)")
    return found


def download_command(out_dir, limit: int | None = None, search: str | None = DEFAULT_SEARCH,
                     collections: str | None = None) -> list[str]:
    """The isic-cli command line for downloading into `out_dir`.

    Args:
        out_dir: target folder (created by isic-cli).
        limit: at most this many images; None = all matching images.
        search: ISIC search query; None or "" = no filter.
        collections: comma-separated ISIC collection ids, optional.
    """
    if limit is not None and limit < 1:
        raise ValueError(f"--limit must be >= 1 (omit it for all images), got {limit}")
    cmd = [isic_executable(), "--no-version-check", "image", "download"]
    if search:
        cmd += ["--search", search]
    if collections:
        cmd += ["--collections", collections]
    cmd += ["--limit", str(limit if limit is not None else ALL_IMAGES), str(out_dir)]
    return cmd


def isic_env(root: Path | None = None) -> dict[str, str]:
    """Environment for isic-cli: tokens and caches under `<project>/data/.isic-cli`."""
    env = dict(os.environ)
    env["XDG_DATA_HOME"] = str((root or project_root()) / "data" / ".isic-cli")
    return env


def download(out_dir, limit: int | None = None, search: str | None = DEFAULT_SEARCH,
             collections: str | None = None, progress: bool = True) -> ValidationReport:
    """Run isic-cli, then validate the folder. Returns the validation report.

    Raises:
        RuntimeError: isic-cli exited with an error (its output was shown).
    """
    out = Path(out_dir).expanduser().resolve()
    cmd = download_command(out, limit, search, collections)
    env = isic_env()
    Path(env["XDG_DATA_HOME"]).mkdir(parents=True, exist_ok=True)
    print("running: " + shlex.join(cmd), flush=True)
    result = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, check=False)
    if result.returncode != 0:
        raise RuntimeError(
            f"isic-cli failed with exit code {result.returncode} (see its output above); "
            "re-running the same command fetches only what is missing"
        )
    return validate_raw(out, progress=progress)
