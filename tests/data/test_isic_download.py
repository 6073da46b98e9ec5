"""The isic-cli wrapper builds a non-interactive command and validates what arrived.

No network here: the command line is checked against the real `isic` executable's --help, and
validation runs on generated folders with the failure modes isic-cli leaves behind.
"""

from __future__ import annotations

import shutil
import subprocess

import pytest

from melanoma_exp.commands.main import main
from melanoma_exp.data import isic
from melanoma_exp.data.layout import RawDataError, validate_raw


def test_download_command_is_non_interactive():
    cmd = isic.download_command("data/isic/raw")
    assert cmd[1:4] == ["--no-version-check", "image", "download"]
    assert cmd[cmd.index("--search") + 1] == isic.DEFAULT_SEARCH
    assert "diagnosis_1:Benign" in isic.DEFAULT_SEARCH and "diagnosis_1:Malignant" in isic.DEFAULT_SEARCH
    assert "image_type:dermoscopic" in isic.DEFAULT_SEARCH
    # never --limit 0: isic-cli asks an interactive disk-space question for it
    assert int(cmd[cmd.index("--limit") + 1]) == isic.ALL_IMAGES
    assert cmd[-1] == "data/isic/raw"


def test_download_command_options():
    cmd = isic.download_command("out", limit=25, search="diagnosis_1:Malignant", collections="66,70")
    assert cmd[cmd.index("--limit") + 1] == "25"
    assert cmd[cmd.index("--search") + 1] == "diagnosis_1:Malignant"
    assert cmd[cmd.index("--collections") + 1] == "66,70"
    assert "--search" not in isic.download_command("out", search="")
    with pytest.raises(ValueError, match="--limit"):
        isic.download_command("out", limit=0)


def test_flags_exist_in_the_real_isic_cli():
    exe = isic.isic_executable()
    top = subprocess.run([exe, "--no-version-check", "--help"], capture_output=True, text=True, timeout=60)
    assert top.returncode == 0, top.stderr
    sub = subprocess.run([exe, "--no-version-check", "image", "download", "--help"],
                         capture_output=True, text=True, timeout=60)
    assert sub.returncode == 0, sub.stderr
    for flag in ("--search", "--limit", "--collections", "OUTDIR"):
        assert flag in sub.stdout


def test_tokens_stay_inside_the_project(tmp_path):
    env = isic.isic_env(tmp_path)
    assert env["XDG_DATA_HOME"] == str(tmp_path / "data" / ".isic-cli")


def test_cli_prints_the_command(capsys):
    assert main(["data", "download", "--out", "somewhere", "--limit", "3", "--print-command"]) == 0
    out = capsys.readouterr().out
    assert "--no-version-check image download" in out and "--limit 3 somewhere" in out


@pytest.fixture
def damaged_raw(synthetic_raw, tmp_path):
    """A copy of the shared raw folder with the failures a real download can leave."""
    raw = shutil.copytree(synthetic_raw, tmp_path / "raw")
    ids = sorted(p.stem for p in raw.glob("ISIC_*.jpg"))
    (raw / f"{ids[0]}.jpg").unlink()  # download failed: listed, not on disk
    (raw / f"{ids[1]}.jpg").write_bytes(b"")  # zero bytes
    data = (raw / f"{ids[2]}.jpg").read_bytes()
    (raw / f"{ids[2]}.jpg").write_bytes(data[: len(data) // 2])  # truncated
    (raw / f"{ids[3]}.jpg").write_bytes(b"<html>503 Service Unavailable</html>")  # not an image
    return raw, ids


def test_validation_reports_bad_files_by_id(damaged_raw):
    raw, ids = damaged_raw
    report = validate_raw(raw)
    assert report.rows == 160 and report.ok == 156 and report.bad == 4
    assert report.problems == {
        "missing_file": [ids[0]], "empty_file": [ids[1]], "undecodable_file": [ids[2], ids[3]],
    }
    text = report.summary()
    for isic_id in ids[:4]:
        assert isic_id in text


def test_validate_command_exit_code(damaged_raw, synthetic_raw, capsys):
    raw, ids = damaged_raw
    assert main(["data", "validate", str(raw)]) == 1
    captured = capsys.readouterr()
    assert ids[0] in captured.out and "re-run the download" in captured.err
    assert main(["data", "validate", str(synthetic_raw)]) == 0
    assert "160 images OK, 0 unusable" in capsys.readouterr().out


def test_validation_names_a_missing_metadata_file(tmp_path):
    tmp_path.joinpath("raw").mkdir()
    with pytest.raises(RawDataError, match="no metadata.csv"):
        validate_raw(tmp_path / "raw")
