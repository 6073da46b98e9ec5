"""Every benchmark runs at its smallest size in `make test` (issue 23): a benchmark that breaks fails
the suite, not the next `make bench` (which once exited 2 on a `KeyError: 'chunk_size'` in
bench_prepare's hand-written data config and dropped its measured section).

Parametrized over the runner's own registry (`bench.__main__.discover`: every bench/bench_*.py), so a
new benchmark is covered the day it exists; it must offer `smoke_args(workdir)`, its smallest real run.
Each runs its real `main` in this process with its working files under tmp_path (the checkout guard in
tests/conftest.py fails the session if one writes into the checkout) and must return its section
under a heading ending with `(bench_<name>)`, the name by which the runner keeps the last measured
section of a benchmark that fails. The numbers are thrown away: this checks that the code runs and
reports, never how fast (speed belongs in `make bench`).

The GPU benchmarks (bench/gpu_*.py, not run by `make bench`) get what runs without a GPU: the bare
step of gpu_benchmark on this CPU, tiny; gpu_trainer's run.py command line is composed and validated
by tests/training/test_gpu_trainer_script.py.
"""

from __future__ import annotations

import importlib
import re

import pytest

from bench.__main__ import BENCH_DIR, discover, find_section

pytestmark = pytest.mark.timeout(240)  # a fresh worker imports TensorFlow and builds B0 graphs (2 cores)

# What covers each GPU benchmark without a GPU; a new bench/gpu_*.py must be added here.
GPU_COVERED_BY = {
    "gpu_benchmark": "test_gpu_benchmark_bare_step_runs_tiny_on_cpu (this file)",
    "gpu_trainer": "tests/training/test_gpu_trainer_script.py (its run.py command line composes and validates)",
}


@pytest.mark.parametrize("name", discover())
def test_benchmark_runs_at_its_smallest_size(name, tmp_path):
    module = importlib.import_module(f"bench.bench_{name}")
    assert callable(getattr(module, "smoke_args", None)), (
        f"bench/bench_{name}.py has no smoke_args(workdir) -> list[str]: give it its smallest real run")
    section = module.main(module.smoke_args(tmp_path / "work"))

    assert find_section(section, name) == section, (
        f"bench_{name}'s section must be one `## ...(bench_{name})` section, got: {section[:200]!r}")
    assert re.search(r"(?m)^\|.*\d.*\|$", section), f"bench_{name}'s section has no table row with a number"
    assert not re.search(r"\b(nan|inf)\b", section, re.IGNORECASE), section


def test_every_gpu_benchmark_has_a_check_without_a_gpu():
    assert sorted(p.stem for p in BENCH_DIR.glob("gpu_*.py")) == sorted(GPU_COVERED_BY)


def test_gpu_benchmark_bare_step_runs_tiny_on_cpu(tmp_path):
    """bench/gpu_benchmark.py on this CPU: the composed model and head, a real fit, the section file."""
    import keras

    from bench.gpu_benchmark import main

    out = tmp_path / "GPU.md"
    try:
        section = main(["--model", "efficientnetv2b0", "--size", "32", "--batch", "2", "--steps", "1",
                        "--modes", "fp32", "--frozen", "--out", str(out)])
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert out.read_text(encoding="utf8") == section
    (row,) = [line for line in section.splitlines() if line.startswith("| 2 | fp32 |")]
    assert row.endswith("| yes |"), row  # the loss stayed finite
