"""Run every benchmark module `bench/bench_*.py` in turn and write BENCHMARKS.md.

    python -m bench                 # all of them
    python -m bench pipeline        # only bench_pipeline.py (names without the bench_ prefix)
    python -m bench --out FILE      # write the report elsewhere (default: <project>/BENCHMARKS.md)
    python -m bench prepare --update  # re-measure only these; the other sections stay as they are

A benchmark's section is the `## ` section whose heading ends with `(bench_<name>)`. A benchmark that
fails keeps its last measured section, marked "Not re-measured" with the date and the error line;
the command still exits 1 and names it. `tests/bench/test_bench_smoke.py` runs every benchmark at its
smallest size (`smoke_args`) in `make test`, so a break shows there first.

The GPU sections are never measured here: bench/GPU.md (`python -m bench.gpu_benchmark --out
bench/GPU.md`) and bench/GPU_TRAINER.md (`bash bench/gpu_trainer.sh`, its $OUT/gpu_trainer.md), written
on a GPU box and committed, are copied in as they stand.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
NOT_REMEASURED = "**Not re-measured"  # how a kept section's mark starts (a later failure replaces it)
HOW_FAILURES_SHOW = (
    "A benchmark that fails keeps its last measured section, marked **Not re-measured** with the date and the "
    "error line (`make bench` still exits non-zero, naming it); `make test` runs every benchmark at its "
    "smallest size (tests/bench/test_bench_smoke.py), so a break shows there first.\n")

# Runs one benchmark in a fresh process: its section to OUT, or the exception's summary to ERR.
CHILD = """
import importlib, pathlib, sys
sys.path.insert(0, {parent!r})
try:
    section = importlib.import_module({module!r}).main([])
except BaseException as exc:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    summary = type(exc).__name__ + (": " + lines[0].strip() if lines else "")
    if len(lines) > 1:  # a child process's error quoted in the message: its last line says what broke
        summary += " ... " + lines[-1].strip()
    pathlib.Path({err!r}).write_text(summary, encoding="utf8")
    raise
pathlib.Path({out!r}).write_text(section or "", encoding="utf8")
"""


def discover(bench_dir: Path = BENCH_DIR) -> list[str]:
    """Names of the benchmark modules (bench_<name>.py), sorted."""
    return sorted(p.stem.removeprefix("bench_") for p in bench_dir.glob("bench_*.py"))


def machine() -> str:
    """One line about the machine the numbers come from."""
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
            f"Python {platform.python_version()}, {platform.system()} {platform.release()}")


def _run_isolated(name: str, bench_dir: Path = BENCH_DIR) -> tuple[str | None, str | None]:
    """Run `bench_<name>.main([])` in a new Python process: (its report section, None), or
    (None, the error line) when it failed."""
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        out, err = Path(tmp) / "section.md", Path(tmp) / "error.txt"
        code = CHILD.format(parent=str(bench_dir.parent), module=f"{bench_dir.name}.bench_{name}",
                            out=str(out), err=str(err))
        proc = subprocess.run([sys.executable, "-c", code], cwd=BENCH_DIR.parent, check=False)
        if proc.returncode == 0 and out.is_file():
            return out.read_text(encoding="utf8") or f"## {name} (bench_{name})\n\n(no report)\n", None
        if err.is_file():
            return None, err.read_text(encoding="utf8")
        how = (f"killed by signal {-proc.returncode}" if proc.returncode < 0
               else f"exit code {proc.returncode}")
        return None, f"the benchmark process ended ({how}) without a section"


GPU_SECTIONS = (  # (file in bench/, heading while it is missing, the command that writes it)
    ("GPU.md", "GPU training throughput", "python -m bench.gpu_benchmark --out bench/GPU.md"),
    ("GPU_TRAINER.md", "GPU: the real trainer (run.py)",
     "OUT=bench bash bench/gpu_trainer.sh && mv bench/gpu_trainer.md bench/GPU_TRAINER.md"),
)


def _sections(report: str) -> list[str]:
    """`report` cut before each `## ` heading (the first part is what comes before any)."""
    return re.split(r"(?m)^(?=## )", report)


def find_section(report: str, name: str) -> str | None:
    """The section of benchmark `name` in `report` (heading ending with `(bench_<name>)`), or None."""
    return next((part for part in _sections(report)
                 if part.startswith("## ") and part.splitlines()[0].rstrip().endswith(f"(bench_{name})")), None)


def kept_section(old_report: str, name: str, error: str, when: str) -> str:
    """The section `name` had in `old_report`, marked as not re-measured on `when` because of
    `error` and saying when it was last measured; a placeholder when it had none."""
    error = " ".join(error.split()).replace("`", "'")
    if len(error) > 300:
        error = error[:297] + "..."
    old = find_section(old_report, name)
    if old is None:
        return (f"## {name} (bench_{name})\n\n{NOT_REMEASURED} on {when}**: `bench_{name}` failed with "
                f"`{error}`. It has no earlier measurement to keep.\n")
    heading, *body = old.rstrip("\n").splitlines()
    marked = next((line for line in body if line.startswith(NOT_REMEASURED)), "")
    earlier = re.search(r"were last measured ([^.]+)\.$", marked)
    stamp = re.search(r"\(Updated alone by .* on (\d{4}-\d\d-\d\d \d\d:\d\d UTC)", old)
    header = re.search(r"Measured by `make bench` on (\d{4}-\d\d-\d\d \d\d:\d\d UTC)", _sections(old_report)[0])
    measured = (earlier.group(1) if earlier else stamp.group(1) if stamp
                else header.group(1) if header else "in an earlier run")
    body = [ln for ln in body if not ln.startswith(NOT_REMEASURED)]
    while body and not body[0].strip():
        body.pop(0)
    mark = (f"{NOT_REMEASURED} on {when}**: `bench_{name}` failed with `{error}`. The numbers below were "
            f"last measured {measured}.")
    return "\n".join([heading, "", mark, "", *body]) + "\n"


def update_sections(report: str, sections: list[str], stamp: str | None) -> str:
    """`report` with each of `sections` replacing the section of the same `## ` heading, or added
    before the GPU section (the last one) when it is new; each gets `stamp` (where it was measured)
    unless it is None."""
    for section in sections:
        heading = section.splitlines()[0]
        section = section.rstrip("\n") + (f"\n\n{stamp}\n" if stamp else "\n")
        parts = _sections(report)
        same = [i for i, part in enumerate(parts) if part.splitlines()[0] == heading]
        if same:
            parts[same[0]] = section + ("\n" if same[0] < len(parts) - 1 else "")
        else:
            gpu = next((i for i, part in enumerate(parts) if part.startswith("## GPU")), len(parts))
            parts.insert(gpu, section + "\n")
        report = "".join(parts)
    return report


def main(argv: list[str] | None = None, bench_dir: Path = BENCH_DIR) -> int:
    """The command; `bench_dir` is the package folder whose bench_*.py are run (tests point it elsewhere)."""
    known = discover(bench_dir)
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default all: {', '.join(known)})")
    parser.add_argument("--out", type=Path, default=BENCH_DIR.parent / "BENCHMARKS.md")
    parser.add_argument("--update", action="store_true",
                        help="replace only the named benchmarks' sections in the existing report, each "
                        "stamped with this machine and date; the others stay as they were measured")
    args = parser.parse_args(argv)
    if args.update and not (args.names and args.out.is_file()):
        parser.error("--update needs benchmark names and an existing report to update")
    names = args.names or known
    unknown = sorted(set(names) - set(known))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}. Known: {', '.join(known)}")
    old_report = args.out.read_text(encoding="utf8") if args.out.is_file() else ""
    sections, kept, failed = [], [], {}
    load = os.getloadavg()[0]
    for name in names:
        print(f"\n=== bench_{name} ===", flush=True)
        start = time.perf_counter()
        section, error = _run_isolated(name, bench_dir)  # a fresh process: no threads or state left behind
        if section is None:
            print(f"--- bench_{name} FAILED: {error}", file=sys.stderr, flush=True)
            failed[name] = error
            kept.append(kept_section(old_report, name, error, f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"))
            sections.append(kept[-1])
            continue
        print(f"--- bench_{name}: {time.perf_counter() - start:.0f} s", flush=True)
        sections.append(section)
    verdict = ("; FAILED (last measured section kept, marked not re-measured): "
               + ", ".join(f"bench_{n} ({e})" for n, e in failed.items())) if failed else ""
    if args.update:
        stamp = (f"(Updated alone by `python -m bench {' '.join(names)} --update` on "
                 f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {machine()}; load average {load:.1f} at the start.)")
        report = update_sections(old_report, [s for s in sections if s not in kept], stamp)
        args.out.write_text(update_sections(report, kept, None), encoding="utf8")
        print(f"\nupdated {args.out}{verdict}", file=sys.stderr if failed else sys.stdout)
        return 1 if failed else 0
    for name, title, command in GPU_SECTIONS:  # measured on a GPU box, committed as measured
        path = bench_dir / name
        if path.is_file():
            sections.append(path.read_text(encoding="utf8") + f"\n(Copied from bench/{name}: measured on the GPU "
                            "named there, not by this run.)\n")
        else:
            sections.append(f"## {title}\n\nNot measured yet: run `{command}` on a GPU box.\n")
    header = (f"# Benchmarks\n\nMeasured by `make bench` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: "
              f"{machine()}; load average {load:.1f} at the start. Each benchmark runs in a fresh process.\n"
              "Numbers are from this machine only; rerun on yours.\n" + HOW_FAILURES_SHOW)
    if failed:
        header += (f"Not re-measured by this run (failed; their sections keep the last measured numbers, "
                   f"marked): {', '.join(f'bench_{n}' for n in failed)}.\n")
    args.out.write_text("\n".join([header, *sections]), encoding="utf8")
    print(f"\nwrote {args.out}{verdict}", file=sys.stderr if failed else sys.stdout)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
