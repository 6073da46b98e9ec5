"""Run every benchmark module `bench/bench_*.py` in turn and write BENCHMARKS.md.

    python -m bench                 # all of them
    python -m bench pipeline        # only bench_pipeline.py (names without the bench_ prefix)
    python -m bench --out FILE      # write the report elsewhere (default: <project>/BENCHMARKS.md)
    python -m bench prepare --update  # re-measure only these; the other sections stay as they are

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


def discover() -> list[str]:
    """Names of the benchmark modules (bench_<name>.py), sorted."""
    return sorted(p.stem.removeprefix("bench_") for p in BENCH_DIR.glob("bench_*.py"))


def machine() -> str:
    """One line about the machine the numbers come from."""
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
            f"Python {platform.python_version()}, {platform.system()} {platform.release()}")


def _run_isolated(name: str) -> str | None:
    """Run `bench.bench_<name>.main([])` in a new Python process; its report section, or None if it failed."""
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        out = Path(tmp) / "section.md"
        code = (f"import pathlib, bench.bench_{name} as m; "
                f"pathlib.Path({str(out)!r}).write_text(m.main([]) or '', encoding='utf8')")
        proc = subprocess.run([sys.executable, "-c", code], cwd=BENCH_DIR.parent, check=False)
        if proc.returncode != 0 or not out.is_file():
            print(f"bench_{name} failed (exit code {proc.returncode})", file=sys.stderr)
            return None
        return out.read_text(encoding="utf8") or f"## {name}\n\n(no report)\n"


GPU_SECTIONS = (  # (file in bench/, heading while it is missing, the command that writes it)
    ("GPU.md", "GPU training throughput", "python -m bench.gpu_benchmark --out bench/GPU.md"),
    ("GPU_TRAINER.md", "GPU: the real trainer (run.py)",
     "OUT=bench bash bench/gpu_trainer.sh && mv bench/gpu_trainer.md bench/GPU_TRAINER.md"),
)


def update_sections(report: str, sections: list[str], stamp: str) -> str:
    """`report` with each of `sections` replacing the section of the same `## ` heading, or added
    before the GPU section (the last one) when it is new; each gets `stamp` (where it was measured)."""
    for section in sections:
        heading = section.splitlines()[0]
        section = section.rstrip("\n") + f"\n\n{stamp}\n"
        parts = re.split(r"(?m)^(?=## )", report)
        same = [i for i, part in enumerate(parts) if part.splitlines()[0] == heading]
        if same:
            parts[same[0]] = section + ("\n" if same[0] < len(parts) - 1 else "")
        else:
            gpu = next((i for i, part in enumerate(parts) if part.startswith("## GPU")), len(parts))
            parts.insert(gpu, section + "\n")
        report = "".join(parts)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", help=f"benchmarks to run (default all: {', '.join(discover())})")
    parser.add_argument("--out", type=Path, default=BENCH_DIR.parent / "BENCHMARKS.md")
    parser.add_argument("--update", action="store_true",
                        help="replace only the named benchmarks' sections in the existing report, each "
                        "stamped with this machine and date; the others stay as they were measured")
    args = parser.parse_args(argv)
    if args.update and not (args.names and args.out.is_file()):
        parser.error("--update needs benchmark names and an existing report to update")
    names = args.names or discover()
    unknown = sorted(set(names) - set(discover()))
    if unknown:
        parser.error(f"unknown benchmark(s) {unknown}. Known: {', '.join(discover())}")
    sections, failed = [], []
    load = os.getloadavg()[0]
    for name in names:
        print(f"\n=== bench_{name} ===", flush=True)
        start = time.perf_counter()
        section = _run_isolated(name)  # a fresh process: no threads or state left by the previous one
        if section is None:
            failed.append(name)
            continue
        took = time.perf_counter() - start
        print(f"--- bench_{name}: {took:.0f} s", flush=True)
        sections.append(section or f"## {name}\n\n(no report)\n")
    if args.update:
        stamp = (f"(Updated alone by `python -m bench {' '.join(names)} --update` on "
                 f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC: {machine()}; load average {load:.1f} at the start.)")
        args.out.write_text(update_sections(args.out.read_text(encoding="utf8"), sections, stamp), encoding="utf8")
        print(f"\nupdated {args.out}" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
        return 1 if failed else 0
    for name, title, command in GPU_SECTIONS:  # measured on a GPU box, committed as measured
        path = BENCH_DIR / name
        if path.is_file():
            sections.append(path.read_text(encoding="utf8") + f"\n(Copied from bench/{name}: measured on the GPU "
                            "named there, not by this run.)\n")
        else:
            sections.append(f"## {title}\n\nNot measured yet: run `{command}` on a GPU box.\n")
    header = (f"# Benchmarks\n\nMeasured by `make bench` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: "
              f"{machine()}; load average {load:.1f} at the start. Each benchmark runs in a fresh process.\n"
              "Numbers are from this machine only; rerun on yours.\n")
    args.out.write_text("\n".join([header, *sections]), encoding="utf8")
    print(f"\nwrote {args.out}" + (f"; FAILED: {', '.join(failed)}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
