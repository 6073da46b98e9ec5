"""Raw isic-cli folder -> prepared dataset (contract 2): clean, balance, grouped split, resize once.

    prepared_root/<source>-<size>px-<balance>-<fingerprint>/
        manifest.json   settings, counts per split and class, exclusions with reasons and ids
        index.csv       isic_id, label, split, group, then the metadata columns (dataset order)
        shards/         <split>-NNNNN-of-NNNNN.tfrecord, raw uint8 pixels (see shards.py)

manifest.json's `checksums` hold the sha256 of metadata.csv, of every raw image prepare read (by
isic_id; hashed from the bytes it decodes, so no second read) and of index.csv and every shard
(hashed right after each is written). `validate_prepared` re-hashes them and names what changed.

The folder name carries a fingerprint of the inputs (metadata.csv content, every image's name,
size and mtime) and of the settings that change the prepared content, so a second run with the same
inputs finds the folder and does nothing, and a run with changed inputs writes a new folder.
`data.balance` = class_weight / oversample / none all share one prepared folder (those are applied
at training time); only `undersample` changes what is kept.

Resumable and bounded: decoded images go to chunk files (shards.PixelChunks) in
`prepared_root/.partial-<source>-<size>px-<key>/`, keyed by the raw folder and the image size only.
A killed (or failed) prepare leaves them there; the next run with the same raw folder and image size
decodes only the images of chunks not yet committed, or whose raw files changed since
("resumed: N of M images already prepared"), whatever its other settings.
Memory holds at most two chunks of pixels, whatever the number of images. The shards are written
into that folder and renamed to the final name when complete; then the work folder is removed. Two
prepares of the same inputs take turns (a lock on the work folder).
"""

from __future__ import annotations

import fcntl
import hashlib
import io
import json
import os
import shutil
import sys
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from melanoma_exp.data.imageops import RESIZE_POLICY, load_resized
from melanoma_exp.data.layout import (
    CLASS_NAMES,
    LABELS,
    METADATA_FILE,
    RawDataError,
    check_image_file,
    data_kind,
    find_image,
    read_metadata,
)
from melanoma_exp.data.shards import RECORD_FORMAT, PixelChunks, chunk_images, sha256_file, write_shards
from melanoma_exp.data.split import (
    SPLITS,
    SplitError,
    assign_groups,
    grouped_stratified_split,
    grouping_summary,
    split_fractions,
    undersample,
)

FORMAT_VERSION = 1
BALANCE_METHODS = ("undersample", "class_weight", "oversample", "none")
MANIFEST = "manifest.json"
INDEX = "index.csv"
WORK_PREFIX = ".partial-"


def _settings(data_cfg) -> dict:
    """The resolved settings that decide the prepared content, validated with named errors."""
    cfg = _plain(data_cfg)
    balance = cfg["balance"]
    if balance not in BALANCE_METHODS:
        raise ValueError(f"Unknown data.balance {balance!r}. Known: {', '.join(BALANCE_METHODS)}")
    size = int(cfg["image_size"])
    if size < 8:
        raise ValueError(f"data.image_size must be >= 8, got {size}")
    split = cfg["split"]
    fractions = split_fractions(float(split["val"]), float(split["test"]))
    return {
        "source": str(cfg["source"]),
        "raw_dir": str(Path(cfg["raw_dir"]).expanduser().resolve()),
        "prepared_root": str(Path(cfg["prepared_root"]).expanduser().resolve()),
        "image_size": size,
        "undersample": balance == "undersample",
        "benign_fraction": float(cfg["benign_fraction"]) if balance == "undersample" else None,
        "fractions": fractions,
        "group_by": str(split["group_by"]),
        "seed": int(cfg["seed"]),
        "shard_size": int(cfg["shard_size"]),
    }


def _run_settings(data_cfg, image_size: int) -> dict:
    """How prepare works, not what it writes: `chunk_size` (images per work chunk; null: ~32 MiB of
    pixels) and `workers` (decoding threads; null: one per core). Not in the fingerprint."""
    cfg = _plain(data_cfg)
    chunk = int(cfg["chunk_size"] or chunk_images(image_size))
    workers = int(cfg["workers"] or os.cpu_count() or 2)
    if chunk < 1 or workers < 1:
        raise ValueError(f"data.chunk_size and data.workers must be >= 1, got {chunk} and {workers}")
    return {"chunk_images": chunk, "workers": workers}


def _plain(data_cfg) -> dict:
    from omegaconf import DictConfig, OmegaConf

    return OmegaConf.to_container(data_cfg, resolve=True) if isinstance(data_cfg, DictConfig) else data_cfg


def _inputs_digest(raw_dir: Path, metadata: pd.DataFrame):
    """(sha256 state over metadata.csv and each listed image's (name, size, mtime), those per isic_id)."""
    digest = hashlib.sha256()
    digest.update((raw_dir / METADATA_FILE).read_bytes())
    signatures = {}
    for isic_id in metadata["isic_id"]:
        path = find_image(raw_dir, isic_id)
        stat = path.stat() if path else None
        signatures[isic_id] = (f"{isic_id}|{path.name if path else ''}|{stat and stat.st_size}|"
                               f"{stat and stat.st_mtime_ns}")
        digest.update(f"{signatures[isic_id]}\n".encode())
    return digest, signatures


def _fingerprint(raw_dir: Path, metadata: pd.DataFrame, settings: dict) -> str:
    """Hash of metadata.csv, each listed image's (name, size, mtime) and the content settings."""
    return _settings_fingerprint(_inputs_digest(raw_dir, metadata)[0], settings)


def _settings_fingerprint(inputs, settings: dict) -> str:
    """The prepared folder's fingerprint: the inputs digest (`_inputs_digest`) plus the content settings."""
    digest = inputs.copy()
    content = {k: v for k, v in settings.items() if k not in ("raw_dir", "prepared_root")}
    digest.update(json.dumps({"format": FORMAT_VERSION, **content}, sort_keys=True).encode())
    return digest.hexdigest()


def _decode_key(raw_dir: Path, image_size: int) -> str:
    """Whose decoded pixels a work folder holds: the raw folder, image size and resize policy (which
    raw files they came from is checked per chunk, by name, size and mtime)."""
    what = {"decode": FORMAT_VERSION, "raw_dir": str(raw_dir), "image_size": image_size, "resize": RESIZE_POLICY}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()


def _label_exclusions(metadata: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """Keep Benign/Malignant rows; the rest by reason (indeterminate_label, missing_label, ...)."""
    excluded: dict[str, list[str]] = {}
    diagnosis = metadata["diagnosis_1"].fillna("").str.strip()
    for reason, mask in (
        ("indeterminate_label", diagnosis == "Indeterminate"),
        ("missing_label", diagnosis == ""),
        ("other_label", ~diagnosis.isin([*LABELS, "Indeterminate", ""])),
    ):
        if mask.any():
            excluded[reason] = list(metadata.loc[mask, "isic_id"])
    kept = metadata[diagnosis.isin(list(LABELS))].copy()
    kept.insert(1, "label", diagnosis[kept.index].map(LABELS).astype(int))
    return kept, excluded


def _decode_chunks(raw_dir: Path, chunks: PixelChunks, workers: int, progress: bool) -> dict:
    """Check, hash and decode every image of every chunk not yet committed; returns counts.

    Each result is (reason, sha256, pixels): the digest is set for every file that was read (also an
    undecodable one), None otherwise. One chunk decodes ahead while the previous one is written, so
    at most two chunks of pixels are in memory.
    """
    from tqdm.auto import tqdm

    ids, size = chunks.ids, chunks.size
    todo = [c for c in range(len(chunks)) if not chunks.is_done(c)]
    resumed = len(ids) - sum(len(chunks.rows(c)) for c in todo)
    if progress and resumed:
        print(f"resumed: {resumed} of {len(ids)} images already prepared ({chunks.folder})")

    def work(i: int):
        path = find_image(raw_dir, ids[i])
        reason = check_image_file(path) if path is None or path.stat().st_size == 0 else None
        if reason:
            return reason, None, None
        data = path.read_bytes()  # read once: hashed (duplicates, checksums) and decoded from memory
        digest = hashlib.sha256(data).hexdigest()
        try:
            return None, digest, load_resized(io.BytesIO(data), size)
        except Exception:  # noqa: BLE001 - any decoder failure: the file is unusable
            return "undecodable_file", digest, None

    # Pillow releases the GIL while decoding, so threads scale over cores.
    pool = ThreadPoolExecutor(max_workers=workers)
    bar = tqdm(total=len(ids), initial=resumed, desc="decode+resize", unit="img", disable=not progress)
    pending: deque = deque()

    def commit_oldest():
        chunk, futures = pending.popleft()
        chunks.commit(chunk, [f.result() for f in futures])
        bar.update(len(futures))

    try:
        for chunk in todo:
            pending.append((chunk, [pool.submit(work, i) for i in chunks.rows(chunk)]))
            if len(pending) > 1:
                commit_oldest()
        while pending:
            commit_oldest()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        bar.close()
    return {"images": len(ids), "resumed": resumed, "decoded": len(ids) - resumed}


def _clean(labelled: pd.DataFrame, excluded: dict, chunks: PixelChunks, raw_dir: Path):
    """Files and duplicates -> (kept frame with `_row` into `chunks`, exclusions, raw sha256s)."""
    ids = chunks.ids
    reasons, digests = chunks.results()
    raw_checksums = {isic_id: digest for isic_id, digest in zip(ids, digests, strict=True) if digest}
    keep = np.ones(len(ids), dtype=bool)
    first_seen: dict[str, str] = {}
    for i, (reason, digest) in enumerate(zip(reasons, digests, strict=True)):
        if reason is None and digest in first_seen:
            reason = "duplicate_file"  # an exact copy of an earlier row's file: keep the first
        elif reason is None:
            first_seen[digest] = ids[i]
        if reason:
            keep[i] = False
            excluded.setdefault(reason, []).append(ids[i])
    labelled["_row"] = np.arange(len(ids))
    kept = labelled[keep]
    for label, name in enumerate(CLASS_NAMES):
        if not (kept["label"] == label).any():
            raise RawDataError(
                f"zero {name} images left in {raw_dir / METADATA_FILE} after cleaning "
                f"(excluded: {', '.join(f'{k}={len(v)}' for k, v in excluded.items()) or 'none'}); "
                "a classifier needs both classes"
            )
    return kept, excluded, raw_checksums


def _balance_and_split(kept: pd.DataFrame, settings: dict, excluded: dict) -> pd.DataFrame:
    """Undersample (when configured), then assign groups and grouped stratified splits."""
    if settings["undersample"]:
        mask = undersample(kept["label"].to_numpy(), settings["benign_fraction"], settings["seed"])
        if (~mask).any():
            excluded["undersampled_benign"] = list(kept.loc[~mask, "isic_id"])
        kept = kept[mask]
    kept = kept.copy()
    kept.insert(2, "group", assign_groups(kept, settings["group_by"]))
    kept.insert(2, "split", grouped_stratified_split(
        kept["label"].to_numpy(), kept["group"].to_numpy(), settings["fractions"], settings["seed"]))
    for split in SPLITS:
        for label, name in enumerate(CLASS_NAMES):
            if not ((kept["split"] == split) & (kept["label"] == label)).any():
                raise SplitError(
                    f"split {split!r} got no {name} images ({len(kept)} images in "
                    f"{kept['group'].nunique()} groups): too little data for data.split "
                    f"val={settings['fractions']['val']}, test={settings['fractions']['test']}"
                )
    order = {s: i for i, s in enumerate(SPLITS)}
    return kept.sort_values("split", key=lambda s: s.map(order), kind="stable")


def _counts(index: pd.DataFrame) -> dict:
    """Images per split and class."""
    out = {}
    for split in SPLITS:
        rows = index[index["split"] == split]
        out[split] = {name: int((rows["label"] == i).sum()) for i, name in enumerate(CLASS_NAMES)}
        out[split]["total"] = len(rows)
    return out



def _write(staging: Path, index: pd.DataFrame, chunks: PixelChunks, settings: dict,
           excluded: dict, fingerprint: str, checksums: dict, run: dict, progress: bool) -> None:
    """Shards, index.csv and manifest.json into the staging folder.

    `checksums` comes with `metadata` and `raw` filled; `prepared` (index.csv, shards) is added here.
    Pixels stream from the chunk files one record at a time (rows of a split are in chunk order).
    """
    from tqdm.auto import tqdm

    start = time.perf_counter()
    shards, prepared = {}, {}
    bar = tqdm(total=len(index), desc="writing shards", unit="img", disable=not progress)
    try:
        for split in SPLITS:
            rows = index[index["split"] == split]

            def records(rows=rows):
                for isic_id, label, row in zip(rows["isic_id"], rows["label"], rows["_row"], strict=True):
                    bar.update()
                    yield isic_id, int(label), chunks.pixels(int(row))

            shards[split] = write_shards(staging, split, records(), len(rows), settings["shard_size"], prepared)
    finally:
        chunks.close()
        bar.close()
    index.drop(columns="_row").to_csv(staging / INDEX, index=False)
    prepared = {INDEX: sha256_file(staging / INDEX), **dict(sorted(prepared.items()))}
    run["seconds"]["write"] = round(time.perf_counter() - start, 3)
    manifest = {
        "format": FORMAT_VERSION,
        "source": settings["source"],
        "kind": data_kind(settings["source"]),
        "raw_dir": settings["raw_dir"],
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "fingerprint": fingerprint,
        "image_size": settings["image_size"],
        "channels": 3, "color": "RGB", "dtype": "uint8", "value_range": [0, 255],
        "resize": RESIZE_POLICY,
        "seed": settings["seed"],
        "balance": {"undersample": settings["undersample"], "benign_fraction": settings["benign_fraction"],
                    "note": "class_weight and oversample are applied at training time"},
        "split": {**settings["fractions"], "group_by": settings["group_by"]},
        "grouping": grouping_summary(index, settings["group_by"]),
        "counts": _counts(index),
        "total": len(index),
        "excluded": {k: {"count": len(v), "ids": v} for k, v in sorted(excluded.items())},
        "excluded_total": sum(len(v) for k, v in excluded.items()),
        "shards": shards,
        "record_format": RECORD_FORMAT,
        "labels": list(CLASS_NAMES),
        "checksums": {"algorithm": "sha256", **checksums, "prepared": prepared},
        # How this folder was made (not its content): images decoded by this run vs taken from the
        # chunks of an interrupted one, threads, seconds per phase.
        "prepare_run": run,
    }
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=2), encoding="utf8")


def expected_prepared_folder(data_cfg) -> Path:
    """The folder `prepare_dataset(data_cfg)` writes (or wrote) for the raw folder as it is now."""
    settings = _settings(_plain(data_cfg))
    raw_dir = Path(settings["raw_dir"])
    fingerprint = _fingerprint(raw_dir, read_metadata(raw_dir), settings)
    return Path(settings["prepared_root"]) / prepared_folder_name(settings, fingerprint)


def prepared_folder_name(settings: dict, fingerprint: str) -> str:
    """`<source>-<size>px-<undersample|all>-<fingerprint[:12]>`."""
    kept = "undersample" if settings["undersample"] else "all"
    return f"{settings['source']}-{settings['image_size']}px-{kept}-{fingerprint[:12]}"


@contextmanager
def _locked(work: Path, final: Path, progress: bool) -> Iterator[Path | None]:
    """Hold an exclusive lock on the work folder (created); None when `final` appeared meanwhile.

    The holder removes the folder when it is done, so a waiter that wakes up checks that the folder
    it locked is still the one at `work`, and otherwise starts over (usually finding `final`).
    """
    while True:
        if (final / MANIFEST).is_file():
            yield None
            return
        work.mkdir(parents=True, exist_ok=True)
        fd = os.open(work, os.O_RDONLY)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if progress:
                    print(f"another prepare is working in {work}; waiting for it")
                fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                current = os.stat(work).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                current = False
            if current:
                yield work
                return
        finally:
            os.close(fd)


def prepare_dataset(data_cfg, progress: bool = True) -> Path:
    """Prepare the raw folder `data_cfg.raw_dir` (contract 1) into a prepared folder (contract 2).

    Args:
        data_cfg: the composed `cfg.data` node (or a plain dict with the same keys; optional
            `chunk_size` and `workers` tune how it runs, not what it writes).
        progress: show progress bars (and the "resumed: N of M" line).

    Returns:
        The prepared folder. If it already exists for these inputs and settings, nothing is done.
        A run that was killed or failed is resumed: images already decoded are not decoded again.

    Raises:
        RawDataError: no metadata.csv / diagnosis_1 column, or a class with zero images.
        SplitError: split fractions out of range or a split without one of the classes.
        ValueError: unknown balance method or bad image size.
    """
    settings = _settings(data_cfg)
    run = _run_settings(data_cfg, settings["image_size"])
    raw_dir = Path(settings["raw_dir"])
    metadata = read_metadata(raw_dir)
    inputs, signatures = _inputs_digest(raw_dir, metadata)
    fingerprint = _settings_fingerprint(inputs, settings)
    root = Path(settings["prepared_root"])
    final = root / prepared_folder_name(settings, fingerprint)
    if (final / MANIFEST).is_file():
        if progress:
            print(f"prepared dataset is up to date: {final}")
        return final
    size = settings["image_size"]
    key = _decode_key(raw_dir, size)
    work_name = f"{WORK_PREFIX}{settings['source']}-{size}px-{key[:12]}"
    with _locked(root / work_name, final, progress) as work:
        if work is None:
            return final  # another prepare wrote it while this one waited
        chunks = None
        try:
            start = time.perf_counter()
            labelled, excluded = _label_exclusions(metadata)
            ids = list(labelled["isic_id"])
            chunks = PixelChunks(work / "chunks", ids, size, run["chunk_images"], key, [signatures[i] for i in ids])
            run.update(_decode_chunks(raw_dir, chunks, run["workers"], progress))
            decoded = time.perf_counter()
            kept, excluded, raw_checksums = _clean(labelled, excluded, chunks, raw_dir)
            index = _balance_and_split(kept, settings, excluded)
            checksums = {"metadata": {METADATA_FILE: sha256_file(raw_dir / METADATA_FILE)}, "raw": raw_checksums}
            staging = work / "out"
            shutil.rmtree(staging, ignore_errors=True)  # a write phase a killed run left half done
            staging.mkdir()
            run["seconds"] = {"decode": round(decoded - start, 3)}
            _write(staging, index, chunks, settings, excluded, fingerprint, checksums, run, progress)
            try:
                staging.rename(final)  # atomic: readers never see a half-written folder
            except OSError:
                if not (final / MANIFEST).is_file():  # only a finished folder may be there already
                    raise
        except BaseException:
            _keep_or_remove(work, chunks)
            raise
        shutil.rmtree(work, ignore_errors=True)
    return final


def _keep_or_remove(work: Path, chunks: PixelChunks | None) -> None:
    """After a failure: keep committed chunks for the next run (and say where), else remove the folder."""
    done = [c for c in range(len(chunks)) if chunks.is_done(c)] if chunks is not None else []
    if not done:
        shutil.rmtree(work, ignore_errors=True)
        return
    images = sum(len(chunks.rows(c)) for c in done)
    size_gb = chunks.disk_bytes() / 1e9
    print(f"prepare stopped: {images} decoded images are kept in {work} ({size_gb:.2f} GB); the next "
          "`melanoma data prepare` with the same raw folder and image size resumes from them "
          "(delete the folder to free the space)", file=sys.stderr)


def read_manifest(prepared_dir: Path) -> dict:
    """Load a prepared folder's manifest.json, with a clear error when it is not one."""
    path = Path(prepared_dir) / MANIFEST
    if not path.is_file():
        raise FileNotFoundError(
            f"{prepared_dir} is not a prepared dataset (no {MANIFEST}); run `melanoma data prepare`"
        )
    return json.loads(path.read_text(encoding="utf8"))


@dataclass
class IntegrityReport:
    """Result of re-hashing a prepared folder's inputs and outputs against manifest.json."""

    folder: Path
    raw_dir: Path
    checked: dict[str, int] = field(default_factory=dict)  # kind -> files checked
    # (status, kind, name, path): status changed|missing, kind raw|metadata|prepared, name isic_id/rel path
    problems: list[tuple[str, str, str, str]] = field(default_factory=list)

    @property
    def bad(self) -> int:
        return len(self.problems)

    def summary(self) -> str:
        """Counts per kind, then every changed or missing file (all of them, by id and path)."""
        where = {"raw": f"raw images in {self.raw_dir}", "metadata": f"{METADATA_FILE} in {self.raw_dir}",
                 "prepared": f"index.csv + shards in {self.folder}"}
        lines = [f"integrity of {self.folder} (sha256 in {MANIFEST}):"]
        for kind, label in where.items():
            mine = [p for p in self.problems if p[1] == kind]
            changed = sum(p[0] == "changed" for p in mine)
            lines.append(f"  {label}: {self.checked.get(kind, 0)} checked, {changed} changed, "
                         f"{len(mine) - changed} missing")
        for status, kind, name, path in self.problems:
            lines.append(f"  {status:<7} {kind:<8} {name}  {path}")
        total = sum(self.checked.values())
        lines.append(f"{self.bad} of {total} files changed or missing since prepare" if self.bad
                     else f"all {total} files unchanged since prepare")
        return "\n".join(lines)


def validate_prepared(prepared_dir: Path, raw_dir: Path | None = None, progress: bool = False) -> IntegrityReport:
    """Re-hash metadata.csv, every raw image prepare read, index.csv and every shard.

    Args:
        prepared_dir: a prepared folder (holds manifest.json).
        raw_dir: the raw folder, when it moved since prepare (default: manifest's `raw_dir`).
        progress: show a progress bar (bytes hashed).

    Raises:
        FileNotFoundError: no manifest.json.
        ValueError: the manifest has no checksums (prepared before they were recorded).
    """
    from tqdm.auto import tqdm

    prepared_dir = Path(prepared_dir)
    manifest = read_manifest(prepared_dir)
    sums = manifest.get("checksums")
    if not sums:
        raise ValueError(
            f"{prepared_dir / MANIFEST} has no checksums (prepared before they were recorded): "
            "delete the folder and run `melanoma data prepare` again to record them"
        )
    raw_dir = Path(raw_dir or manifest["raw_dir"])
    report = IntegrityReport(folder=prepared_dir, raw_dir=raw_dir)
    jobs = []  # (kind, name, path or None, shown path, expected)
    for name, expected in sums.get("metadata", {}).items():
        jobs.append(("metadata", name, raw_dir / name, raw_dir / name, expected))
    for isic_id, expected in sums.get("raw", {}).items():
        path = find_image(raw_dir, isic_id)
        jobs.append(("raw", isic_id, path, path or raw_dir / f"{isic_id}.*", expected))
    for name, expected in sums.get("prepared", {}).items():
        jobs.append(("prepared", name, prepared_dir / name, prepared_dir / name, expected))
    for kind, *_ in jobs:
        report.checked[kind] = report.checked.get(kind, 0) + 1

    def size(path):
        try:
            return path.stat().st_size if path is not None else 0
        except OSError:
            return 0

    def check(job):
        kind, name, path, shown, expected = job
        try:
            if path is None:
                raise FileNotFoundError(shown)
            return None if sha256_file(path) == expected else "changed"
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return "missing"

    bar = tqdm(total=sum(size(job[2]) for job in jobs), desc="verifying sha256", unit="B", unit_scale=True,
               unit_divisor=1024, disable=not progress)
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 2)) as pool:  # hashlib frees the GIL
        for job, status in zip(jobs, pool.map(check, jobs), strict=True):
            bar.update(size(job[2]))
            if status:
                report.problems.append((status, job[0], job[1], str(job[3])))
    bar.close()
    return report
