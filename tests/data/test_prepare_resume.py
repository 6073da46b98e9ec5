"""A killed prepare resumes without decoding finished images again (issue 14 item 3).

It picks up the chunks a killed run committed (also under other split or balance settings), decodes
again only the chunks not committed or holding a raw file that changed, and writes the same bytes
as an uninterrupted run; a second prepare of the same inputs waits for the first.

The prepare runs in a child process (the same `prepare_dataset` that `melanoma data prepare` calls).
To kill it at a known point, the child wraps `PixelChunks.commit`: after the Nth committed chunk it
writes a marker file and blocks; the test waits for the marker and sends SIGKILL. Nothing else in
the child is changed, and the kill is a real one (no cleanup code runs).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from omegaconf import OmegaConf

from melanoma_exp.data.layout import find_image
from melanoma_exp.data.prepare import prepare_dataset, read_manifest, validate_prepared

CHUNK = 16  # images per work chunk: the shared 160-image raw folder gives 10 chunks

CHILD = """
import json, sys, threading
from pathlib import Path
from melanoma_exp.data import prepare, shards

cfg, hold_after, marker = json.loads(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
commit, done = shards.PixelChunks.commit, []

def commit_then_hold(self, chunk, results):
    commit(self, chunk, results)
    done.append(chunk)
    if len(done) == hold_after:
        marker.write_text(json.dumps(done))
        threading.Event().wait()  # held here, chunk committed, until the test kills the process

shards.PixelChunks.commit = commit_then_hold
print("prepared:", prepare.prepare_dataset(cfg, progress=True), flush=True)
"""


def _start(cfg, hold_after: int, marker: Path, log: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(log, "w", encoding="utf8") as out:
        return subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(OmegaConf.to_container(cfg, resolve=True)),
                                 str(hold_after), str(marker)], stdout=out, stderr=subprocess.STDOUT, env=env)


def _wait_for(proc: subprocess.Popen, done, log: Path, what: str, timeout: float = 120) -> None:
    """Poll until `done()` (a file appearing, a line printed); fail with the child's output if it died."""
    deadline = time.monotonic() + timeout
    while not done():
        if proc.poll() is not None:
            pytest.fail(f"child exited ({proc.returncode}) before {what}:\n{log.read_text()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"no {what} after {timeout:.0f} s:\n{log.read_text()}")
        time.sleep(0.02)


def _kill(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL


def _committed(root: Path) -> list[str]:
    return sorted(p.name for p in root.glob(".partial-*/chunks/chunk-*.json"))


def _same_output(resumed: Path, reference: Path) -> None:
    """Byte-identical index.csv and shards, same exclusions and raw checksums."""
    assert resumed.name == reference.name
    assert (resumed / "index.csv").read_bytes() == (reference / "index.csv").read_bytes()
    got, want = read_manifest(resumed), read_manifest(reference)
    for key in ("shards", "counts", "excluded", "checksums", "fingerprint", "total"):
        assert got[key] == want[key], key
    for split_names in want["shards"].values():
        for name in split_names:
            assert (resumed / name).read_bytes() == (reference / name).read_bytes(), name
    assert validate_prepared(resumed).bad == 0


@pytest.fixture
def reference(synthetic_raw, data_cfg, tmp_path_factory):
    """The same inputs prepared in one uninterrupted run (in this process)."""
    root = tmp_path_factory.mktemp("uninterrupted")
    folder = prepare_dataset(data_cfg(synthetic_raw, root, chunk_size=CHUNK), progress=False)
    run = read_manifest(folder)["prepare_run"]
    assert run["resumed"] == 0 and run["decoded"] == run["images"] and run["chunk_images"] == CHUNK
    return folder


def test_killed_prepare_resumes_without_redoing_finished_images(synthetic_raw, data_cfg, reference, tmp_path):
    root = tmp_path / "prepared"
    cfg = data_cfg(synthetic_raw, root, chunk_size=CHUNK)
    marker, log = tmp_path / "held", tmp_path / "killed.log"
    killed = _start(cfg, 3, marker, log)
    _wait_for(killed, marker.exists, log, "3 committed chunks")
    _kill(killed)

    # Killed after chunk 3 of 10: no prepared folder, exactly three committed chunks, and a chunk
    # .npy without its JSON (as a kill between the two writes would leave) that must not be trusted.
    assert [p.name for p in root.iterdir() if not p.name.startswith(".partial-")] == []
    assert _committed(root) == ["chunk-00000.json", "chunk-00001.json", "chunk-00002.json"]
    work = next(root.glob(".partial-*"))
    half = (work / "chunks" / "chunk-00000.npy").read_bytes()
    (work / "chunks" / "chunk-00003.npy").write_bytes(half[: len(half) // 2])

    log2 = tmp_path / "rerun.log"
    rerun = _start(cfg, 0, tmp_path / "unused", log2)
    assert rerun.wait(timeout=240) == 0, log2.read_text()
    images = read_manifest(reference)["prepare_run"]["images"]
    assert f"resumed: {3 * CHUNK} of {images} images already prepared" in log2.read_text()

    folder = root / reference.name
    run = read_manifest(folder)["prepare_run"]
    assert (run["images"], run["resumed"], run["decoded"]) == (images, 3 * CHUNK, images - 3 * CHUNK)
    _same_output(folder, reference)
    assert [p.name for p in root.iterdir()] == [reference.name]  # the work folder is gone


def test_second_prepare_waits_for_the_first_and_resumes_its_chunks(synthetic_raw, data_cfg, reference, tmp_path):
    root = tmp_path / "prepared"
    cfg = data_cfg(synthetic_raw, root, chunk_size=CHUNK)
    marker, log_a, log_b = tmp_path / "held", tmp_path / "a.log", tmp_path / "b.log"
    first = _start(cfg, 2, marker, log_a)
    _wait_for(first, marker.exists, log_a, "2 committed chunks")
    second = _start(cfg, 0, tmp_path / "unused", log_b)
    try:
        _wait_for(second, lambda: "waiting for it" in log_b.read_text(), log_b, "the waiting line")
        assert _committed(root) == ["chunk-00000.json", "chunk-00001.json"]  # the second decodes nothing yet
        _kill(first)
        assert second.wait(timeout=240) == 0, log_b.read_text()
    finally:
        for proc in (first, second):
            if proc.poll() is None:
                proc.kill()
    out = log_b.read_text()
    assert f"resumed: {2 * CHUNK} of" in out and f"prepared: {root / reference.name}" in out
    _same_output(root / reference.name, reference)
    index = pd.read_csv(root / reference.name / "index.csv", dtype=str)
    assert len(index) == read_manifest(reference)["total"]


def test_other_split_settings_reuse_the_chunks_and_a_changed_raw_file_redoes_its_own(
        synthetic_raw, data_cfg, tmp_path):
    raw = shutil.copytree(synthetic_raw, tmp_path / "raw", ignore=shutil.ignore_patterns("masks"))
    root = tmp_path / "prepared"
    marker, log = tmp_path / "held", tmp_path / "killed.log"
    killed = _start(data_cfg(raw, root, chunk_size=CHUNK), 3, marker, log)
    _wait_for(killed, marker.exists, log, "3 committed chunks")
    _kill(killed)
    # One file of chunk 1 fetched again (a new mtime), as a re-run of the download does for a bad one.
    chunk_1 = json.loads(next(root.glob(".partial-*/chunks/chunk-00001.json")).read_text())
    victim = find_image(raw, chunk_1["ids"][5])
    stat = victim.stat()
    os.utime(victim, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))

    # Other split settings: another prepared folder, but the same decoded pixels.
    folder = prepare_dataset(data_cfg(raw, root, chunk_size=CHUNK, **{"split.val": 0.2}), progress=False)
    run = read_manifest(folder)["prepare_run"]
    assert (run["resumed"], run["decoded"]) == (2 * CHUNK, run["images"] - 2 * CHUNK)  # chunks 0 and 2
    assert read_manifest(folder)["split"]["val"] == 0.2 and validate_prepared(folder).bad == 0
    assert [p.name for p in root.iterdir()] == [folder.name]
