"""What a person sees on the terminal: TensorFlow's native (C++) start-up lines.

On a machine without a GPU, plain TensorFlow prints `E0000 ... cuda_platform.cc:52] failed call to
cuInit: ... UNKNOWN ERROR (303)`, absl and oneDNN notices, once per process: to a newcomer the first
"error" on screen would be one that is not. The entry points (`run.py`, `melanoma`, `make demo`) call
`quiet_native_logs()` first: unless the user set ``TF_CPP_MIN_LOG_LEVEL`` themselves, TensorFlow's C++
logging stays at warnings and above (level 1), and the lines TensorFlow writes while it starts
(`native_stderr_filtered`, around the first import and the device probe) are replayed without the
known start-up notices. Every other line, warnings and errors included, is shown as written. Child
processes (sweep workers) inherit the choice through the environment.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

# Set by quiet_native_logs when the user had not chosen a TF_CPP_MIN_LOG_LEVEL.
FILTER_ENV = "MELANOMA_FILTER_NATIVE_LOGS"
TF_LOG_LEVEL = "1"  # warnings and above
# Start-up notices of TensorFlow and absl that say nothing is wrong (matched per line).
STARTUP_NOISE = re.compile(
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|^I\d{4} [\d:. ]+\d+ \S+\] "                      # absl INFO lines written before logging starts
    r"|^E\d{4} [\d:. ]+\d+ cuda_platform\.cc:\d+\] failed call to cuInit"  # no GPU on this machine
    r"|^E\d{4} [\d:. ]+\d+ cuda_executor\.cc:\d+\] .*(no CUDA-capable device|cuInit)"
    r"|^To enable the following instructions: .* rebuild TensorFlow"
)


def quiet_native_logs() -> None:
    """Call first in an entry point: TensorFlow's C++ logs at warnings and above unless the user set
    ``TF_CPP_MIN_LOG_LEVEL``, and the start-up notices filtered (see the module docstring)."""
    if "TF_CPP_MIN_LOG_LEVEL" not in os.environ:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = TF_LOG_LEVEL
        os.environ[FILTER_ENV] = "1"


def filtered(text: str) -> str:
    """`text` without the lines of STARTUP_NOISE."""
    return "".join(line for line in text.splitlines(keepends=True) if not STARTUP_NOISE.search(line))


@contextmanager
def native_stderr_filtered() -> Iterator[None]:
    """Inside the block, everything written to file descriptor 2 (C++ and Python alike) is held, then
    written out without the start-up notices, in order. Does nothing unless `quiet_native_logs` chose
    the log level for the user."""
    if os.environ.get(FILTER_ENV) != "1":
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            sys.stderr.write(filtered(held.read().decode("utf8", errors="replace")))
            sys.stderr.flush()
