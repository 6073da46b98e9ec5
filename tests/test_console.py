"""Entry points keep TensorFlow's C++ start-up notices off screen, say which device trains, and hide
nothing else (issue 23 item 8)."""

from __future__ import annotations

import os
import subprocess
import sys

from melanoma_exp.console import STARTUP_NOISE, filtered

PROBE = """
import os
from melanoma_exp.console import native_stderr_filtered, quiet_native_logs
if os.environ.get("QUIET") == "1":
    quiet_native_logs()
if os.environ.get("BACKEND") != "0":
    from melanoma_exp.training.runtime import start_backend
    print(start_backend(), flush=True)
with native_stderr_filtered():
    os.write(2, b"E0000 00:00:1796674020.438298    9073 cuda_platform.cc:52] failed call to cuInit: INTERNAL\\n")
    os.write(2, b"E1207 12:00:00.000000    9073 some_kernel.cc:10] a real error stays visible\\n")
"""


def _probe(quiet: bool, **env) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "MELANOMA_FILTER_NATIVE_LOGS")}
    environ.update(QUIET="1" if quiet else "0", KERAS_BACKEND="tensorflow", **env)
    return subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=environ, timeout=240)


def test_tensorflow_start_up_notices_are_filtered_and_the_device_is_named():
    loud, quiet = _probe(False), _probe(True)
    assert loud.returncode == quiet.returncode == 0, quiet.stderr
    # without the entry point's choice TensorFlow prints its start-up notices (the premise)
    assert any(STARTUP_NOISE.search(line) for line in loud.stderr.splitlines()), loud.stderr
    assert not any(STARTUP_NOISE.search(line) for line in quiet.stderr.splitlines()), quiet.stderr
    assert "a real error stays visible" in quiet.stderr
    assert quiet.stdout.startswith("[device] Keras on tensorflow: training on ")
    assert ("on CPU" in quiet.stdout) or ("on GPU" in quiet.stdout)


def test_a_log_level_the_user_chose_is_left_alone():
    done = _probe(True, TF_CPP_MIN_LOG_LEVEL="0", BACKEND="0")
    assert "failed call to cuInit: INTERNAL" in done.stderr  # nothing filtered


def test_filter_keeps_everything_but_the_known_notices():
    text = ("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
            "I0000 00:00:1796674008.940983    9073 port.cc:153] oneDNN custom operations are on.\n"
            "Traceback (most recent call last):\n"
            "W0000 00:00:1.0    1 some.cc:1] a warning\n")
    assert filtered(text) == "Traceback (most recent call last):\nW0000 00:00:1.0    1 some.cc:1] a warning\n"
