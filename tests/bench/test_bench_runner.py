"""`python -m bench` when a benchmark fails (issue 23): the failed benchmark keeps its last measured
section, marked as not re-measured with the date and the error line; the command exits 1 and names it.

The runner is run for real (each benchmark in a fresh Python process) on a package of small
benchmarks written into tmp_path, against a report in tmp_path.
"""

from __future__ import annotations

import re

import pytest

from bench.__main__ import find_section, main

OLD_REPORT = """# Benchmarks

Measured by `make bench` on 2026-11-26 02:38 UTC: x86_64, 2 CPU cores; load average 1.1 at the start.

## Prepare at archive scale (bench_broken)

| images | images/s |
|---:|---:|
| 500 | 46.9 |

## Good one (bench_good)

old: 1 image/s

## GPU training throughput

Not measured yet: run `python -m bench.gpu_benchmark --out bench/GPU.md` on a GPU box.
"""

BENCHMARKS = {
    "good": 'def main(argv=None):\n    return "## Good one (bench_good)\\n\\nnew: 2 images/s\\n"\n',
    # as bench_prepare failed: its prepare child's error quoted in the message
    "broken": ('def main(argv=None):\n    raise RuntimeError("child ended with 1, expected 0:\\n'
               'Traceback (most recent call last):\\n  ...\\nKeyError: \'chunk_size\'")\n'),
    "killed": "import os, signal\n\ndef main(argv=None):\n    os.kill(os.getpid(), signal.SIGKILL)\n",
}
WHEN = r"\d{4}-\d\d-\d\d \d\d:\d\d UTC"


@pytest.fixture
def benchmarks(tmp_path):
    """A benchmark package like bench/ (bench_good, bench_broken, bench_killed) and an old report."""
    package = tmp_path / "fake_bench"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name, source in BENCHMARKS.items():
        (package / f"bench_{name}.py").write_text(source)
    report = tmp_path / "BENCHMARKS.md"
    report.write_text(OLD_REPORT)
    return package, report


def test_a_failed_benchmark_keeps_its_last_section_marked_and_the_command_fails(benchmarks, capfd):
    package, report = benchmarks
    assert main(["good", "broken", "--out", str(report)], bench_dir=package) == 1
    err = capfd.readouterr().err
    assert "bench_broken" in err and "KeyError: 'chunk_size'" in err

    new = report.read_text()
    assert find_section(new, "good").startswith("## Good one (bench_good)\n\nnew: 2 images/s")
    kept = find_section(new, "broken")
    assert kept.splitlines()[0] == "## Prepare at archive scale (bench_broken)"
    assert "| 500 | 46.9 |" in kept  # the last measured numbers stay
    assert re.search(rf"\*\*Not re-measured on {WHEN}\*\*: `bench_broken` failed with `RuntimeError: child ended "
                     r"with 1, expected 0: \.\.\. KeyError: 'chunk_size'`\. The numbers below were last measured "
                     r"2026-11-26 02:38 UTC\.", kept), kept
    assert re.search(r"Not re-measured by this run .*: bench_broken\.", new)


def test_failing_again_keeps_one_mark_and_the_first_date_also_with_update(benchmarks):
    package, report = benchmarks
    main(["good", "broken", "--out", str(report)], bench_dir=package)
    assert main(["broken", "--update", "--out", str(report)], bench_dir=package) == 1

    kept = find_section(report.read_text(), "broken")
    assert kept.count("Not re-measured on") == 1
    assert "last measured 2026-11-26 02:38 UTC." in kept and "| 500 | 46.9 |" in kept
    assert "Updated alone" not in kept  # not stamped as measured now


def test_a_benchmark_killed_without_an_exception_and_with_no_earlier_section(benchmarks, capfd):
    package, report = benchmarks
    assert main(["killed", "--update", "--out", str(report)], bench_dir=package) == 1
    assert "bench_killed" in capfd.readouterr().err

    new = report.read_text()
    kept = find_section(new, "killed")
    assert re.search(rf"Not re-measured on {WHEN}\*\*: `bench_killed` failed with `the benchmark process ended "
                     r"\(killed by signal 9\) without a section`\. It has no earlier measurement", kept), kept
    assert new.index("(bench_killed)") < new.index("## GPU")  # added before the GPU section
    assert find_section(new, "broken") == find_section(OLD_REPORT, "broken")  # the others untouched


def test_a_run_where_everything_passes_exits_0(benchmarks):
    package, report = benchmarks
    assert main(["good", "--out", str(report)], bench_dir=package) == 0
    new = report.read_text()
    assert "**Not re-measured on" not in new and "Not re-measured by this run" not in new
