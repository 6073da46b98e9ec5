"""A fresh machine gets a clear outcome from `make test` within seconds: the system tools the suite uses
are checked first (.ci/system-deps.sh), installed as root on Debian, or named with the one command that
installs them. Proven here with a PATH that hides Chromium (and apt-get, so nothing can be installed)."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def path_without(tmp_path: Path, *hidden: str) -> str:
    """A PATH of one folder linking every program of the real PATH except ``hidden``."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for entry in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(entry):
            continue
        for name in os.listdir(entry):
            target = Path(entry) / name
            if name in hidden or (folder / name).exists() or not os.access(target, os.X_OK):
                continue
            (folder / name).symlink_to(target)
    return str(folder)


def clean_env(path: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    env["PATH"] = path
    return env


def test_all_tools_present_on_this_machine():
    proc = subprocess.run(["bash", ".ci/system-deps.sh", "--check"], cwd=ROOT, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.timeout(120)
def test_make_test_without_chromium_stops_in_seconds_naming_it_and_the_install_command(tmp_path):
    assert shutil.which("chromium"), "the real PATH has chromium (test_all_tools_present_on_this_machine)"
    env = clean_env(path_without(tmp_path, "chromium", "apt-get"))
    start = time.monotonic()
    # -o: the environment counts as set up (it is: this suite runs in it); the check must still stop make.
    proc = subprocess.run(["make", "--no-print-directory", "-o", ".venv/.installed", "test"], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=90)
    seconds = time.monotonic() - start
    assert proc.returncode != 0
    assert seconds < 60, f"the check took {seconds:.0f} s"
    assert "pytest" not in proc.stdout, "pytest started although a tool is missing"
    assert "Chromium (chromium)" in proc.stderr
    assert "ChromeDriver" not in proc.stderr, "only what is missing is named"
    assert "sudo bash .ci/system-deps.sh" in proc.stderr and "apt-get install chromium" in proc.stderr


def test_make_setup_only_warns_about_missing_tools(tmp_path):
    env = clean_env(path_without(tmp_path, "chromium", "apt-get"))
    proc = subprocess.run(["bash", ".ci/system-deps.sh", "--warn"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and proc.stderr.startswith("note:") and "Chromium" in proc.stderr


def test_make_system_deps_names_what_is_missing(tmp_path):
    env = clean_env(path_without(tmp_path, "chromedriver", "apt-get"))
    proc = subprocess.run(["make", "--no-print-directory", "system-deps"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and "ChromeDriver (chromedriver)" in proc.stderr
    assert "apt-get install chromium-driver" in proc.stderr
