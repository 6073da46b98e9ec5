"""The raw dataset layout (contract 1): what `isic image download OUT` writes, and checks on it.

`OUT/<isic_id>.<ext>`, `OUT/metadata.csv` (isic_id, attribution, copyright_license, then the
sorted metadata fields), `OUT/attribution.txt`, `OUT/licenses/`. Used by the synthetic generator
(which writes it), the download wrapper (which validates it) and prepare (which reads it).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

METADATA_FILE = "metadata.csv"
REQUIRED_COLUMNS = ("isic_id", "diagnosis_1")
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")
# diagnosis_1 -> label; every other value (Indeterminate, empty) is excluded and counted.
LABELS = {"Benign": 0, "Malignant": 1}
CLASS_NAMES = ("benign", "malignant")


class RawDataError(ValueError):
    """The raw folder does not follow the isic-cli layout; the message names the file/column."""


def image_path(raw_dir: Path, isic_id: str, ext: str = ".jpg") -> Path:
    """Where isic-cli puts the image of `isic_id`."""
    return Path(raw_dir) / f"{isic_id}{ext}"


def find_image(raw_dir: Path, isic_id: str) -> Path | None:
    """The image file of `isic_id` (isic-cli keeps the archive's extension), or None."""
    for ext in IMAGE_EXTENSIONS:
        path = image_path(raw_dir, isic_id, ext)
        if path.exists():
            return path
    return None


def read_metadata(raw_dir: Path) -> pd.DataFrame:
    """Read `raw_dir/metadata.csv` as strings (ids stay ids), with errors that name the problem.

    Raises:
        RawDataError: no folder, no metadata.csv, or a required column missing.
    """
    raw_dir = Path(raw_dir)
    path = raw_dir / METADATA_FILE
    if not raw_dir.is_dir():
        raise RawDataError(
            f"raw data folder {raw_dir} does not exist. Download it with "
            f"`melanoma data download --out {raw_dir}` or generate one with "
            f"`melanoma data synth --out {raw_dir}`."
        )
    if not path.is_file():
        raise RawDataError(f"no {METADATA_FILE} in {raw_dir}: expected isic-cli's layout ({path})")
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise RawDataError(
            f"{path} has no column {', '.join(repr(c) for c in missing)} "
            f"(columns: {', '.join(frame.columns)})"
        )
    return frame


def check_image_file(path: Path | None) -> str | None:
    """Why an image file is unusable ('missing_file', 'empty_file', 'undecodable_file') or None.

    Decoding fully (not just the header) catches truncated downloads.
    """
    from PIL import Image

    if path is None or not path.exists():
        return "missing_file"
    if path.stat().st_size == 0:
        return "empty_file"
    try:
        with Image.open(path) as img:
            img.draft("RGB", (64, 64))  # full decode at 1/8 scale: still reads every byte
            img.load()
    except Exception:  # noqa: BLE001 - any decoder failure means the file is unusable
        return "undecodable_file"
    return None


@dataclass
class ValidationReport:
    """Result of checking every metadata.csv row against the files on disk."""

    rows: int = 0
    ok: int = 0
    problems: dict[str, list[str]] = field(default_factory=dict)  # reason -> isic_ids

    @property
    def bad(self) -> int:
        return sum(len(ids) for ids in self.problems.values())

    def summary(self, max_ids: int = 20) -> str:
        """Human-readable report naming the bad images by id."""
        lines = [f"{self.rows} rows in {METADATA_FILE}: {self.ok} images OK, {self.bad} unusable"]
        for reason, ids in sorted(self.problems.items()):
            shown = ", ".join(ids[:max_ids]) + (" ..." if len(ids) > max_ids else "")
            lines.append(f"  {reason} ({len(ids)}): {shown}")
        return "\n".join(lines)


def validate_raw(raw_dir: Path, progress: bool = False) -> ValidationReport:
    """Check every metadata.csv row has a present, non-empty, decodable image.

    isic-cli skips failed downloads silently while still listing them in metadata.csv, so this is
    the only way to know what actually arrived.
    """
    from concurrent.futures import ThreadPoolExecutor

    from tqdm.auto import tqdm

    raw_dir = Path(raw_dir)
    ids = list(read_metadata(raw_dir)["isic_id"])
    report = ValidationReport(rows=len(ids))
    with ThreadPoolExecutor() as pool:
        reasons = pool.map(lambda i: check_image_file(find_image(raw_dir, i)), ids)
        for isic_id, reason in tqdm(
            zip(ids, reasons, strict=True), total=len(ids), desc="validating", disable=not progress
        ):
            if reason is None:
                report.ok += 1
            else:
                report.problems.setdefault(reason, []).append(isic_id)
    return report
