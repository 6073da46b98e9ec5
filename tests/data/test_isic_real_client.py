"""The real `isic` client (isic-cli 12.4.0), end to end, against a local ISIC archive, on real dermoscopy.

`melanoma data download` runs the real `isic` executable with `ISIC_DEV=1`, which points it at
http://127.0.0.1:8000, where `tests/fakes/isic_archive.py` serves real images through the parts of
ISIC API v2 that isic-cli uses: every 7th image of the project's ISIC UDA-1 sample
(`samples/isic_uda1`, CC0) and the two nevi without a diagnosis below "Benign", 62 images (42 nevi,
20 melanomas), with their real metadata, as the archive serves that collection (attribution
"Anonymous", CC-0, no lesion or patient id). The download must be byte-identical to the sample's
files and its metadata.csv to the sample's rows. Then `melanoma data prepare data=isic` (which must
say the split could not be grouped) and a smoke training run on what arrived. Failure modes a real
download meets: an image URL answering 404, an image whose body is truncated, a transfer that drops
mid-body once (retried by isic-cli), a 500 on one search page (retried by isic-cli), Ctrl-C, and a
re-run after an interrupted download (only the missing files are fetched).

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
from fakes.isic_archive import SAMPLE_DIR, FakeIsicArchive, PortTaken

from melanoma_exp.data.isic import DEFAULT_SEARCH, isic_executable
from melanoma_exp.data.layout import data_kind
from melanoma_exp.paths import project_root

STRIDE = 7  # the archive serves every 7th image of the sample (and the two nevi without diagnosis_2)
PAGE_SIZE = 10  # results per search page: 7 pages, so pagination is exercised
FAILING_PAGE = 2  # the third page of results answers 500 once, then succeeds
MALIGNANT_SEARCH = "image_type:dermoscopic AND diagnosis_1:Malignant"
MELANOMA = str(Path(sys.executable).parent / "melanoma")


def _sample() -> tuple[list[str], list[dict[str, str]]]:
    """The real sample's metadata.csv: (header, rows), as `melanoma data import-v1` wrote it."""
    with (SAMPLE_DIR / "metadata.csv").open(newline="", encoding="utf8") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames), list(reader)


def _served_rows() -> list[dict[str, str]]:
    """The sample rows the fake archive serves, in the sample's (isic_id) order."""
    _, rows = _sample()
    return [r for i, r in enumerate(rows) if i % STRIDE == 0 or not r["diagnosis_2"]]


def _read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(newline="", encoding="utf8") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames), list(reader)


def _sample_bytes(isic_id: str) -> bytes:
    """The image as it lies in samples/isic_uda1 (read here, not through the fake archive)."""
    return (SAMPLE_DIR / f"{isic_id}.jpg").read_bytes()


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
def archive():
    """The fake archive on 127.0.0.1:8000 serving real sample images: one 404 image, one truncated
    image, one image whose first transfer drops mid-body, one search page that answers 500 once."""
    served = [r["isic_id"] for r in _served_rows()]
    fake = FakeIsicArchive(SAMPLE_DIR, ids=served, page_size=PAGE_SIZE, missing_ids=[served[3]],
                           truncated_ids=[served[7]], dropped={served[11]: 1},
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
    served = _served_rows()
    expected = archive.matching_ids(DEFAULT_SEARCH)
    # every served image is a dermoscopic nevus or melanoma: the project's search matches them all
    assert expected == [r["isic_id"] for r in served] and len(expected) == 62
    bad = sorted(archive.missing_ids | archive.truncated_ids)

    # isic-cli itself succeeds (it skips failed images silently); the wrapper's validation fails
    assert "running: " in log and "--no-version-check image download" in log, log[-3000:]
    assert result.returncode == 1, log[-3000:]
    assert "error: isic-cli failed" not in result.stderr and "Successfully downloaded" in log
    (missing,), (truncated,) = archive.missing_ids, archive.truncated_ids
    assert f"missing_file (1): {missing}" in result.stdout, log[-3000:]
    assert f"undecodable_file (1): {truncated}" in result.stdout, log[-3000:]
    assert f"{len(expected)} rows in metadata.csv: {len(expected) - 2} images OK, 2 unusable" in result.stdout

    # contract 1: one row per matched image, in the archive's order, the metadata as isic-cli writes
    # it, which is the sample's own metadata.csv, row for row and cell for cell: the real labels
    header, rows = _read_csv(raw / "metadata.csv")
    sample_header, _ = _sample()
    assert header == sample_header
    assert header[:3] == ["isic_id", "attribution", "copyright_license"]
    assert header[3:] == sorted(header[3:])
    assert rows == served
    assert [(r["diagnosis_1"], r["diagnosis_3"]) for r in rows].count(("Malignant", "Melanoma, NOS")) == 20
    assert [(r["diagnosis_1"], r["diagnosis_3"]) for r in rows].count(("Benign", "Nevus")) == 40
    assert [r["isic_id"] for r in rows if r["diagnosis_1"] == "Benign" and not r["diagnosis_2"]] == [
        "ISIC_0000257", "ISIC_0000454"]  # absent in the archive's JSON -> empty cells
    assert {r["image_type"] for r in rows} == {"dermoscopic"}
    assert "lesion_id" not in header and "patient_id" not in header
    assert {(r["attribution"], r["copyright_license"]) for r in rows} == {("Anonymous", "CC-0")}
    assert sorted(p.name for p in (raw / "licenses").iterdir()) == ["CC-0.txt"]
    assert (raw / "attribution.txt").read_text(encoding="utf8") == "Anonymous"
    assert {p.stem for p in raw.glob("*.jpg")} == set(expected) - {missing}
    # real dermoscopy, byte for byte: the files of samples/isic_uda1
    for isic_id in set(expected) - set(bad):
        assert (raw / f"{isic_id}.jpg").read_bytes() == _sample_bytes(isic_id), isic_id
    assert 0 < (raw / f"{truncated}.jpg").stat().st_size < len(_sample_bytes(truncated))
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
    assert (raw / f"{dropped}.jpg").read_bytes() == _sample_bytes(dropped)
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
    assert all((interrupted / f"{i}.jpg").read_bytes() == _sample_bytes(i) for i in gone)
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
    assert all((out / f"{i}.jpg").read_bytes() == _sample_bytes(i) for i in stalled)


def test_metadata_download_matches_image_download(archive, downloaded, tmp_path):
    raw, _, _ = downloaded
    env = _env(tmp_path)
    env["XDG_DATA_HOME"] = str(tmp_path / "xdg")

    def metadata(search: str, name: str) -> Path:
        out = tmp_path / name
        result = subprocess.run([isic_executable(), "--no-version-check", "metadata", "download",
                                 "--search", search, "--outfile", str(out)],
                                env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, result.stderr[-2000:]
        return out

    assert metadata(DEFAULT_SEARCH, "all.csv").read_text(encoding="utf8") == (raw / "metadata.csv").read_text(encoding="utf8")
    # the archive filters on the real labels: only the melanomas
    _, malignant = _read_csv(metadata(MALIGNANT_SEARCH, "malignant.csv"))
    assert malignant == [r for r in _served_rows() if r["diagnosis_1"] == "Malignant"]
    assert len(malignant) == 20


def test_download_of_other_collections_licences_and_deeper_diagnoses(archive, tmp_path):
    """The same real images served as rows of three collections (the fake's `relabel`: licences
    CC-0 / CC-BY / CC-BY-NC, three attributions, made-up diagnosis_4/5 under the real diagnosis_1..3):
    isic-cli writes one licence file per licence, the attributions by count with "Anonymous" last,
    and the union of the columns."""
    from isic_metadata.diagnosis_hierarchical import DiagnosisEnum

    out = tmp_path / "raw"
    archive.set_relabel(True)
    try:
        result = _download(out, tmp_path, "--limit", "3")
    finally:
        archive.set_relabel(False)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    header, rows = _read_csv(out / "metadata.csv")
    served = _served_rows()[:3]
    assert [r["isic_id"] for r in rows] == [r["isic_id"] for r in served]
    assert [r["copyright_license"] for r in rows] == ["CC-0", "CC-BY", "CC-BY-NC"]
    assert sorted(p.name for p in (out / "licenses").iterdir()) == ["CC-0.txt", "CC-BY-NC.txt", "CC-BY.txt"]
    assert (out / "attribution.txt").read_text(encoding="utf8").split("\n\n") == [
        "Hospital Clinic de Barcelona", "Memorial Sloan Kettering Cancer Center", "Anonymous"]
    assert {"diagnosis_4", "diagnosis_5"} <= set(header) and header[3:] == sorted(header[3:])
    hierarchy = {d.value for d in DiagnosisEnum}
    deeper = 0
    for row, real in zip(rows, served, strict=True):
        levels = [row[f"diagnosis_{n}"] for n in range(1, 6) if row[f"diagnosis_{n}"]]
        assert levels[:3] == [real[f"diagnosis_{n}"] for n in (1, 2, 3)]  # the real labels stay
        assert ":".join(levels) in hierarchy
        deeper += len(levels) > 3
        assert (out / f"{row['isic_id']}.jpg").read_bytes() == _sample_bytes(row["isic_id"])
    assert deeper >= 1


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
    real = {r["isic_id"]: r for r in _served_rows()}
    common = [f"paths.data_dir={tmp_path / 'data'}", f"paths.output_dir={tmp_path / 'outputs'}",
              "data=isic", f"data.raw_dir={raw}", f"data.prepared_root={tmp_path / 'prepared'}",
              "data.image_size=32", "data.balance=none", "data.shard_size=64"]
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    prep = subprocess.run([MELANOMA, "data", "prepare", *common], env=env, cwd=tmp_path,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    assert prep.returncode == 0, (prep.stdout + prep.stderr)[-3000:]
    (folder,) = (tmp_path / "prepared").iterdir()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["source"] == "isic" and manifest["kind"] == data_kind("isic")
    # the archive serves this collection without lesion or patient ids: prepare says it split per image
    assert manifest["grouping"]["grouped"] is False, manifest["grouping"]
    assert manifest["grouping"]["columns"] == []
    assert manifest["grouping"]["note"].startswith("could not be grouped"), manifest["grouping"]
    assert manifest["excluded"]["missing_file"]["ids"] == [missing]
    assert manifest["excluded"]["undecodable_file"]["ids"] == [truncated]
    assert manifest["excluded_total"] == 2
    with (folder / "index.csv").open(newline="") as f:
        index = list(csv.DictReader(f))
    assert sorted(r["isic_id"] for r in index) == sorted(set(expected) - bad)
    # the real labels: label 1 exactly for the sample's melanomas
    for r in index:
        assert (r["diagnosis_1"], r["diagnosis_3"]) == (real[r["isic_id"]]["diagnosis_1"],
                                                      real[r["isic_id"]]["diagnosis_3"])
        assert r["label"] == ("1" if real[r["isic_id"]]["diagnosis_1"] == "Malignant" else "0")
    labels = {i: r["diagnosis_1"] for i, r in real.items()}
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
    assert report["data"]["grouping"] == manifest["grouping"]  # and so does the ungrouped split
    assert "test" in report and "baseline" in report

