"""The Kotlin core's JUnit suite, run through `make -C mobile test` so `make test` covers it too.

The Makefile compiles mobile/core with kotlinc (npm), exports a tiny real bundle, writes the
preprocessing fixtures with the serving app's own code, links the app's resources with aapt2 and
runs JUnit against two real serving instances on 127.0.0.1; its last line is `N passed, M failed`.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

MOBILE = Path(__file__).resolve().parents[2] / "mobile"
CLOSING = re.compile(r"^(\d+) passed, (\d+) failed$", re.MULTILINE)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_kotlin_core_suite_passes_against_the_real_server():
    proc = subprocess.run(
        ["make", "--no-print-directory", "-C", str(MOBILE), "test", f"PY={sys.executable}"],
        capture_output=True, text=True, timeout=880, check=False,
    )
    output = proc.stdout + proc.stderr
    closing = CLOSING.findall(proc.stdout)
    assert closing, f"no 'N passed, M failed' line; make exited {proc.returncode}:\n{output[-6000:]}"
    passed, failed = (int(n) for n in closing[-1])
    assert failed == 0, f"{failed} Kotlin test(s) failed:\n{output[-6000:]}"
    assert passed >= 75, f"only {passed} Kotlin tests ran (a test class is missing?):\n{output[-3000:]}"
    assert proc.returncode == 0, output[-6000:]
    assert (MOBILE / "build" / "app-resources.apk").is_file(), "aapt2 did not link the app's resources"
