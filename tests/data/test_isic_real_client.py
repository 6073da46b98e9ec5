"""The real `isic` client (isic-cli 12.4.0), end to end, against a local ISIC archive.

`melanoma data download` runs the real `isic` executable with `ISIC_DEV=1`, which points it at
http://127.0.0.1:8000, where `tests/fakes/isic_archive.py` serves synthetic images through the
parts of ISIC API v2 that isic-cli uses. Then `melanoma data prepare data=isic` and a smoke
training run on what arrived. Failure modes a real download meets: an image URL answering 404, an
image whose body is truncated, a transfer that drops mid-body once (retried by isic-cli), a 500 on
one search page (retried by isic-cli), and a re-run after an interrupted download (only the missing
files are fetched).

Everything is written under pytest's tmp folders; isic-cli's token folder (`XDG_DATA_HOME`) too,
via `MELANOMA_ROOT` for the download subprocess. The server binds 127.0.0.1:8000 only (isic-cli's
dev address is hard-coded) and fails the test loudly if the port is taken.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakes.isic_archive import FakeIsicArchive, PortTaken

from melanoma_exp.data.isic import DEFAULT_SEARCH, isic_executable
from melanoma_exp.paths import project_root

N_SOURCE = 120  # synthetic images in the archive (a few Indeterminate: not matched by the search)
PAGE_SIZE = 10  # results per search page: 12 pages, so pagination is exercised
FAILING_PAGE = 2  # the third page of results answers 500 once, then succeeds
MELANOMA = str(Path(sys.executable).parent / "melanoma")


def _env(root: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("ISIC_SANDBOX", "MLFLOW_TRACKING_URI", "XDG_DATA_HOME")}
    env.update(ISIC_DEV="1", MELANOMA_ROOT=str(root), HOME=str(root / "home"))
    return env


def _download(out: Path, root: Path, *extra: str) -> subprocess.CompletedProcess:
    """`melanoma data download --out OUT` (the project's CLI -> the real isic executable)."""
    return subprocess.run([MELANOMA, "data", "download", "--out", str(out), *extra], env=_env(root),
                          cwd=root, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=180)


def _image_requests(archive: FakeIsicArchive) -> dict[str, int]:
    return {p[len("/images/"):-len(".jpg")]: n for p, n in archive.requests.items()
            if p.startswith("/images/")}


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    """The fake archive on 127.0.0.1:8000: one 404 image, one truncated image, one image whose first
    transfer drops mid-body, one search page that answers 500 once."""
    from melanoma_exp.data.synth import generate_synthetic

    source = generate_synthetic(tmp_path_factory.mktemp("isic_source") / "raw", n=N_SOURCE, size=64, seed=11)
    with (source / "metadata.csv").open(newline="") as f:
        labelled = [r["isic_id"] for r in csv.DictReader(f) if r["diagnosis_1"] in ("Benign", "Malignant")]
    fake = FakeIsicArchive(source, page_size=PAGE_SIZE, missing_ids=[labelled[3]],
                           truncated_ids=[labelled[7]], dropped={labelled[11]: 1},
                           fail_pages={FAILING_PAGE: 1})
    try:
        fake.start()
    except PortTaken as exc:
        pytest.fail(str(exc))  # never another port: isic-cli cannot be pointed elsewhere
    try:
        yield fake
    finally:
        fake.stop()


@pytest.fixture(scope="module")
def downloaded(archive, tmp_path_factory):
    """The first download: (raw folder, its project root, the completed process)."""
    root = tmp_path_factory.mktemp("isic_root")
    raw = root / "isic" / "raw"
    result = _download(raw, root)
    return raw, root, result


def test_download_writes_contract_1(archive, downloaded):
    raw, root, result = downloaded
    log = result.stdout + result.stderr
    expected = archive.matching_ids(DEFAULT_SEARCH)
    assert 0 < len(expected) < N_SOURCE  # the Indeterminate rows are filtered by the search
    bad = sorted(archive.missing_ids | archive.truncated_ids)

    # isic-cli itself succeeds (it skips failed images silently); the wrapper's validation fails
    assert "running: " in log and "--no-version-check image download" in log, log[-3000:]
    assert result.returncode == 1, log[-3000:]
    assert "error: isic-cli failed" not in result.stderr and "Successfully downloaded" in log
    (missing,), (truncated,) = archive.missing_ids, archive.truncated_ids
    assert f"missing_file (1): {missing}" in result.stdout, log[-3000:]
    assert f"undecodable_file (1): {truncated}" in result.stdout, log[-3000:]
    assert f"{len(expected)} rows in metadata.csv: {len(expected) - 2} images OK, 2 unusable" in result.stdout

    # contract 1: one row per matched image, in the archive's order, the metadata as isic-cli writes it
    with (raw / "metadata.csv").open(newline="", encoding="utf8") as f:
        reader = csv.DictReader(f)
        header, rows = reader.fieldnames, list(reader)
    assert [r["isic_id"] for r in rows] == expected
    assert header[:3] == ["isic_id", "attribution", "copyright_license"]
    assert header[3:] == sorted(header[3:])
    for field in ("diagnosis_1", "diagnosis_2", "diagnosis_3", "diagnosis_4", "diagnosis_5",
                  "patient_id", "lesion_id", "image_type", "age_approx", "sex"):
        assert field in header
    assert {r["diagnosis_1"] for r in rows} == {"Benign", "Malignant"}
    assert {r["copyright_license"] for r in rows} == {"CC-0", "CC-BY", "CC-BY-NC"}
    assert sorted(p.name for p in (raw / "licenses").iterdir()) == ["CC-0.txt", "CC-BY-NC.txt", "CC-BY.txt"]
    assert "Anonymous" in (raw / "attribution.txt").read_text(encoding="utf8")
    assert {p.stem for p in raw.glob("*.jpg")} == set(expected) - {missing}
    for isic_id in set(expected) - set(bad):
        assert (raw / f"{isic_id}.jpg").read_bytes() == archive.image_bytes(isic_id)
    assert 0 < (raw / f"{truncated}.jpg").stat().st_size < len(archive.image_bytes(truncated))
    assert not list(raw.glob(".isic-partial*"))  # isic-cli cleaned its temp files

    # the 500 page was retried once by isic-cli (urllib3 Retry) and then served
    statuses = [status for path, query, status in archive.log if path == "/api/v2/images/search/"]
    assert statuses.count(500) == 1
    pages = [q for p, q, s in archive.log if p == "/api/v2/images/search/" and "limit=" not in q]
    assert len(pages) == -(-len(expected) // PAGE_SIZE) + 1  # every page once, the failing one twice
    # every image URL was requested once (the truncated body is a complete HTTP response), except
    # the dropped transfer: isic-cli retried it (tenacity, after 3 s) and got the whole file
    (dropped,) = archive.dropped
    assert archive.dropped[dropped] == 0
    assert _image_requests(archive) == {**dict.fromkeys(expected, 1), dropped: 2}
    assert (raw / f"{dropped}.jpg").read_bytes() == archive.image_bytes(dropped)
    # nothing outside tmp: the token folder is under the tmp project root
    assert (root / "data" / ".isic-cli").is_dir()


def test_rerun_after_interruption_fetches_only_missing_files(archive, downloaded, tmp_path):
    raw, _, _ = downloaded
    root = tmp_path / "root"
    interrupted = root / "isic" / "raw"
    shutil.copytree(raw, interrupted)
    # what an interrupted run leaves behind: some images never arrived (isic-cli moves each file
    # into place only when complete, and removes its .isic-partial.* temp files on SIGINT/SIGTERM)
    expected = archive.matching_ids(DEFAULT_SEARCH)
    gone = [i for i in expected if i not in archive.missing_ids | archive.truncated_ids][-5:]
    for isic_id in gone:
        (interrupted / f"{isic_id}.jpg").unlink()
    (interrupted / "metadata.csv").unlink()
    archive.reset_counts()

    result = _download(interrupted, root)

    # fetched again: the 5 lost files, plus the 404 and the short file (its size differs from the
    # archive's), each once; every complete file is skipped by isic-cli (same name and size)
    refetched = set(gone) | archive.missing_ids | archive.truncated_ids
    assert _image_requests(archive) == dict.fromkeys(refetched, 1), result.stdout[-2000:]
    assert all((interrupted / f"{i}.jpg").read_bytes() == archive.image_bytes(i) for i in gone)
    assert result.returncode == 1  # the two bad images are still reported, by id
    (missing,), (truncated,) = archive.missing_ids, archive.truncated_ids
    assert f"missing_file (1): {missing}" in result.stdout
    assert f"undecodable_file (1): {truncated}" in result.stdout


@pytest.mark.timeout(600)
def test_ctrl_c_mid_download_then_rerun_fetches_only_what_is_missing(archive, tmp_path):
    """A real interruption: Ctrl-C (SIGINT to the process group) while 10 transfers hang mid-body."""
    expected = archive.matching_ids(DEFAULT_SEARCH)
    stalled = [i for i in expected if i not in archive.missing_ids | archive.truncated_ids][20:30]
    root = tmp_path / "root"
    out = root / "isic" / "raw"
    root.mkdir()
    archive.reset_counts()
    archive.stall_ids, archive.stalled = set(stalled), 0
    archive.release.clear()
    log = tmp_path / "interrupted.log"
    try:
        with log.open("w") as sink:
            proc = subprocess.Popen([MELANOMA, "data", "download", "--out", str(out)], env=_env(root),
                                    cwd=root, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
                                    start_new_session=True)
            try:
                deadline = time.time() + 60
                while archive.stalled < len(stalled) and time.time() < deadline and proc.poll() is None:
                    time.sleep(0.05)
                assert archive.stalled == len(stalled), log.read_text()[-3000:]
                os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
                code = proc.wait(timeout=240)  # generous: a loaded CI box
            finally:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=30)
    finally:
        archive.stall_ids = set()
        archive.release.set()
    text = log.read_text()
    assert code == 130 and "interrupted" in text, text[-3000:]
    assert not (out / "metadata.csv").exists()  # isic-cli writes it only at the end of a full run
    assert not any((out / f"{i}.jpg").exists() for i in stalled)  # no half file under a real name
    # (isic-cli writes each transfer to .isic-partial.<pid>.* and removes those on SIGINT; one left
    # behind by a harder kill is never read: every stage looks files up by <isic_id>.<ext>)
    first = _image_requests(archive)

    def complete(i):
        path = out / f"{i}.jpg"
        return path.exists() and path.stat().st_size == len(archive.image_bytes(i))

    have = {i for i in expected if complete(i)}
    assert have and len(have) < len(expected) - len(stalled)
    archive.reset_counts()

    result = _download(out, root)

    # the re-run asks only for what is not complete on disk, each once; the images the first run
    # never reached are among them
    assert _image_requests(archive) == dict.fromkeys(set(expected) - have, 1), result.stdout[-2000:]
    assert set(stalled) | (set(expected) - set(first)) <= set(expected) - have
    assert result.returncode == 1  # only the 404 and the truncated image are still reported
    assert f"{len(expected)} rows in metadata.csv: {len(expected) - 2} images OK, 2 unusable" in result.stdout
    assert all((out / f"{i}.jpg").read_bytes() == archive.image_bytes(i) for i in stalled)


def test_metadata_download_matches_image_download(archive, downloaded, tmp_path):
    raw, _, _ = downloaded
    out = tmp_path / "metadata.csv"
    env = _env(tmp_path)
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")
    result = subprocess.run([isic_executable(), "--no-version-check", "metadata", "download",
                             "--search", DEFAULT_SEARCH, "--outfile", str(out)],
                            env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert out.read_text(encoding="utf8") == (raw / "metadata.csv").read_text(encoding="utf8")


def test_invalid_search_is_rejected_by_the_archive(archive, tmp_path):
    result = _download(tmp_path / "raw", tmp_path, "--search", "no_such_field:1")
    assert result.returncode == 1
    # isic-cli's own message (its SearchString check of the archive's 400), then the wrapper's line
    assert 'Invalid search query string "no_such_field:1"' in result.stderr, result.stderr[-2000:]
    assert "error: isic-cli failed with exit code 2" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "raw" / "metadata.csv").exists()


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_prepare_and_smoke_train_on_the_download(archive, downloaded, tmp_path):
    raw, _, _ = downloaded
    expected = archive.matching_ids(DEFAULT_SEARCH)
    bad = archive.missing_ids | archive.truncated_ids
    (missing,), (truncated,) = archive.missing_ids, archive.truncated_ids
    common = [f"paths.data_dir={tmp_path / 'data'}", f"paths.output_dir={tmp_path / 'outputs'}",
              "data=isic", f"data.raw_dir={raw}", f"data.prepared_root={tmp_path / 'prepared'}",
              "data.image_size=32", "data.balance=none", "data.shard_size=64"]
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    prep = subprocess.run([MELANOMA, "data", "prepare", *common], env=env, cwd=tmp_path,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    assert prep.returncode == 0, (prep.stdout + prep.stderr)[-3000:]
    (folder,) = (tmp_path / "prepared").iterdir()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["source"] == "isic"
    assert manifest["excluded"]["missing_file"]["ids"] == [missing]
    assert manifest["excluded"]["undecodable_file"]["ids"] == [truncated]
    assert manifest["excluded_total"] == 2
    with (folder / "index.csv").open(newline="") as f:
        index = list(csv.DictReader(f))
    assert sorted(r["isic_id"] for r in index) == sorted(set(expected) - bad)
    labels = {r["isic_id"]: r["diagnosis_1"] for r in csv.DictReader((raw / "metadata.csv").open(newline=""))}
    counts = manifest["counts"]
    assert sum(c["total"] for c in counts.values()) == len(expected) - 2
    for name in ("Benign", "Malignant"):
        assert sum(c[name.lower()] for c in counts.values()) == sum(
            1 for i, label in labels.items() if label == name and i not in bad)
    shards = b"".join(p.read_bytes() for p in (folder / "shards").glob("*.tfrecord"))
    for isic_id in bad:  # neither bad image reaches a shard
        assert isic_id.encode() not in shards
    assert all(r["isic_id"].encode() in shards for r in index)

    run_dir = tmp_path / "run"
    train = subprocess.run(
        [sys.executable, "run.py", "+experiment=smoke", *common, "tracking=none", f"trainer.run_dir={run_dir}",
         "eval.bootstrap=50", "eval.robustness.enabled=false", "eval.ood.enabled=false"],
        env=env, cwd=project_root(), stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=540)
    assert train.returncode == 0, (train.stdout + train.stderr)[-4000:]
    report_file = run_dir / "evaluation" / "report.json"
    assert report_file.is_file(), f"no {report_file}:\n{(train.stdout + train.stderr)[-3000:]}"
    report = json.loads(report_file.read_text())
    assert report["data"]["source"] == "isic" and report["data"]["counts"] == counts
    assert report["data"]["excluded"] == manifest["excluded"]  # the bad ids travel into the report
    assert "test" in report and "baseline" in report

