"""Prepare at archive scale: images/s, peak RSS, disk, DCT-scaled vs full decode, resume, projection.

A synthetic archive shaped like the real one: JPEGs in a mix of 1024x768, 4000x3000 and 6000x4000
(default 50/30/20 %), metadata.csv from the synthetic generator's planner (patients with several
lesions, lesions with several images, ~3 % Indeterminate). Rendering one 24 MP JPEG takes ~1.6 s on
one core, so a few distinct images per size are rendered (`generate_synthetic`) and every isic_id
gets a copy of one of them with its own JPEG comment segment (COM, holding the isic_id): distinct
bytes per file (prepare drops exact duplicates), the same pixels when decoded.

Measured, each `prepare_dataset` in a fresh child process (224 px, balance none, one decoding thread
per core; the data config is the project's composed `data` group with these overrides): wall time,
images/s, the seconds of the decode and write phases (manifest `prepare_run`), peak RSS (the child's
VmHWM), CPU seconds, and disk (raw archive, prepared folder, peak of the prepared root while it ran).
Then decode alone, DCT-scaled vs full, per JPEG size on 1 and all threads with the pixel difference
between the two; a prepare that kills itself (SIGKILL, from inside its chunk commit, so at any
archive size) once half of its chunks are committed, then resumed; and the projection to the full
archive (75,000 images) on 2 and 16 cores.

    python -m bench.bench_prepare                           # 500, 2,000, 5,000 images (~6 min, 2 cores)
    python -m bench.bench_prepare --sizes 500,2000,20000    # a bigger box (20,000: ~19 GB of JPEGs)
    BENCH_PREPARE_SIZES=2000,20000 python -m bench prepare  # the same through the runner
    python -m bench prepare --update                        # only this section of BENCHMARKS.md
    python -m bench.bench_prepare --sizes 24,48 --mix 64x48:0.5:2,96x72:0.3:2,128x96:0.2:2 \
        --image-size 32 --chunk-size 8                      # smallest size (the test suite's smoke)
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

FULL_ARCHIVE = 75_000
# JPEG size: (share of the archive, distinct images rendered); every size but the smallest is "large"
MIX = "1024x768:0.5:16,4000x3000:0.3:6,6000x4000:0.2:4"
IMAGE_SIZE = 224
MIB = 1 << 20

# Peak RSS is the child's own VmHWM (read at its end): wait4's ru_maxrss would also count the
# parent's pages at the fork that started it.
HWM = """
print(next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")))
"""
CHILD = """
import json, sys
from melanoma_exp.data.prepare import prepare_dataset
prepare_dataset(json.loads(sys.argv[1]), progress=False)
""" + HWM
# The same prepare, killed with SIGKILL right after the commit that completes half of its chunks.
KILLED_AT_HALF = """
import json, os, signal, sys
from melanoma_exp.data.prepare import prepare_dataset
from melanoma_exp.data.shards import PixelChunks
commit = PixelChunks.commit
def commit_then_die(self, chunk, results):
    commit(self, chunk, results)
    if 2 * sum(self.is_done(c) for c in range(len(self))) >= len(self):
        os.kill(os.getpid(), signal.SIGKILL)
PixelChunks.commit = commit_then_die
prepare_dataset(json.loads(sys.argv[1]), progress=False)
"""
BASELINE = """
import melanoma_exp.data.prepare, pandas, PIL.Image
""" + HWM


def parse_mix(text: str) -> dict[str, tuple[float, int]]:
    """`"1024x768:0.5:16,..."` -> {JPEG size: (share of the archive, distinct images rendered)}."""
    mix = {}
    for item in text.replace(" ", "").split(","):
        size, share, count = item.split(":")
        mix[size] = (float(share), int(count))
    if abs(sum(share for share, _ in mix.values()) - 1) > 1e-6 or len(mix) < 2:
        raise SystemExit(f"--mix needs two or more WxH:share:templates entries whose shares sum to 1, got {text!r}")
    return dict(sorted(mix.items(), key=lambda kv: np.prod([int(v) for v in kv[0].split("x")])))


def _templates(folder: Path, mix: dict[str, tuple[float, int]]) -> dict[str, list[bytes]]:
    """A few distinct synthetic JPEGs per size (rendered once, kept in `folder`)."""
    from melanoma_exp.data.synth import generate_synthetic

    out = {}
    for i, (size, (_, count)) in enumerate(mix.items()):
        target = folder / size
        if not (target / "metadata.csv").is_file():
            generate_synthetic(target, n=count, size=size, seed=100 + i)
        out[size] = [p.read_bytes() for p in sorted(target.glob("ISIC_*.jpg"))]
    return out


def _with_comment(jpeg: bytes, text: str) -> bytes:
    """`jpeg` with a COM segment after SOI: other bytes (and sha256), same decoded pixels."""
    payload = text.encode("ascii")
    return jpeg[:2] + b"\xff\xfe" + (len(payload) + 2).to_bytes(2, "big") + payload + jpeg[2:]


def make_archive(raw: Path, n: int, templates: dict[str, list[bytes]], mix: dict[str, tuple[float, int]],
                 seed: int = 0) -> dict:
    """Write an `n`-image archive in isic-cli's layout; returns {size: count} and the bytes written."""
    import pandas as pd

    from melanoma_exp.data.synth import plan_metadata

    raw.mkdir(parents=True, exist_ok=True)
    rows, _ = plan_metadata(n, seed, 0.45)
    rng = np.random.default_rng([seed, 9])
    sizes = rng.choice(list(mix), n, p=[share for share, _ in mix.values()])
    counts: dict[str, int] = {}
    written = 0
    for row, size in zip(rows, sizes, strict=True):
        choices = templates[size]
        data = _with_comment(choices[rng.integers(len(choices))], f"bench copy {row['isic_id']}")
        (raw / f"{row['isic_id']}.jpg").write_bytes(data)
        counts[size] = counts.get(size, 0) + 1
        written += len(data)
    base = ["isic_id", "attribution", "copyright_license"]
    frame = pd.DataFrame(rows)
    frame[base + sorted(set(frame.columns) - set(base))].to_csv(raw / "metadata.csv", index=False)
    return {"sizes": counts, "bytes": written}


def _disk(root: Path) -> int:
    total = 0
    for folder, _, files in os.walk(root):
        for name in files:
            try:
                total += os.stat(os.path.join(folder, name)).st_size
            except FileNotFoundError:  # a chunk or temp file renamed while walking
                pass
    return total


def _child(code: str, args: list[str], watch: Path | None = None, killed: bool = False) -> dict:
    """Run `python -c code args` and wait (wait4): wall s, peak RSS MiB (the VmHWM it prints last),
    CPU s, peak disk under `watch` (sampled every 0.1 s). `killed`: the child must end by SIGKILL.
    """
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    start = time.perf_counter()
    with tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as out:
        proc = subprocess.Popen([sys.executable, "-c", code, *args], stdout=out, stderr=err,
                                env=env, cwd=Path(__file__).resolve().parents[1])
        peak_disk = 0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if watch is not None:
                peak_disk = max(peak_disk, _disk(watch))
            time.sleep(0.1)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != (-signal.SIGKILL if killed else 0):
            err.seek(0)
            raise RuntimeError(f"child ended with {proc.returncode}, expected {-signal.SIGKILL if killed else 0}:"
                               f"\n{err.read().decode()[-3000:]}")
        out.seek(0)
        printed = out.read().decode().split()
    rss = int(printed[-1]) / 1024 if printed and not killed else None
    return {"wall": time.perf_counter() - start, "rss_mib": rss,
            "cpu": usage.ru_utime + usage.ru_stime, "peak_disk": peak_disk, "killed": killed}


def data_config(raw: Path, root: Path, image_size: int = IMAGE_SIZE, chunk_size: int | None = None) -> dict:
    """The project's composed `data` config (every key the schema has) pointed at this archive, as
    plain data for the child's command line."""
    from omegaconf import OmegaConf

    from melanoma_exp.config import group_config

    cfg = group_config("data", [
        "data.source=bench", f"data.raw_dir={raw}", f"data.prepared_root={root}", f"data.image_size={image_size}",
        "data.balance=none", "data.seed=0", "data.shard_size=1024", "data.split.val=0.16", "data.split.test=0.20",
        "data.split.group_by=lesion_id", f"data.chunk_size={'null' if chunk_size is None else chunk_size}",
        "data.workers=null",
    ])
    return OmegaConf.to_container(cfg, resolve=True)


def measure_prepare(cfg: dict) -> dict:
    """One prepare from scratch in a child process, with its manifest's `prepare_run`."""
    from melanoma_exp.data.prepare import read_manifest

    root = Path(cfg["prepared_root"])
    result = _child(CHILD, [json.dumps(cfg)], watch=root)
    folder = next(p for p in root.iterdir() if not p.name.startswith("."))
    result["run"] = read_manifest(folder)["prepare_run"]
    result["folder"] = folder
    result["prepared_bytes"] = _disk(folder)
    return result


def measure_resume(cfg: dict) -> dict:
    """A prepare killed once half of its chunks are committed, then the re-run timed."""
    from melanoma_exp.data.prepare import read_manifest

    root = Path(cfg["prepared_root"])
    killed = _child(KILLED_AT_HALF, [json.dumps(cfg)], killed=True)
    rerun = _child(CHILD, [json.dumps(cfg)], watch=root)
    folder = next(p for p in root.iterdir() if not p.name.startswith("."))
    return {"killed_after": killed["wall"], "rerun": rerun["wall"], "run": read_manifest(folder)["prepare_run"]}


def decode_rates(templates: dict[str, list[bytes]], threads: int, image_size: int = IMAGE_SIZE,
                 samples: int = 64) -> dict:
    """Decode + crop/resize only (bytes in memory), per JPEG size: images/s DCT-scaled and full, on
    1 and `threads` threads, and the pixel difference DCT vs full over the distinct images."""
    from melanoma_exp.data.imageops import load_resized

    out = {}
    for size, datas in templates.items():
        row = {}
        for dct, n in ((True, samples), (False, max(8, samples // 4))):
            sample = (datas * (n // len(datas) + 1))[:n]
            for workers in sorted({1, threads}):
                with ThreadPoolExecutor(workers) as pool:
                    start = time.perf_counter()
                    list(pool.map(lambda d, dct=dct: load_resized(io.BytesIO(d), image_size, dct), sample))
                    row[("dct" if dct else "full", workers)] = n / (time.perf_counter() - start)
        diffs = [np.abs(load_resized(io.BytesIO(d), image_size).astype(int)
                        - load_resized(io.BytesIO(d), image_size, dct_scaling=False)) for d in datas]
        row["max_diff"] = int(max(d.max() for d in diffs))
        row["mean_diff"] = float(np.mean([d.mean() for d in diffs]))
        row["mb"] = float(np.mean([len(d) for d in datas])) / 1e6
        out[size] = row
    return out


def _projection(runs: list[dict], rates: dict, cores: int) -> dict:
    """Seconds for FULL_ARCHIVE images on `cores` and 16 cores, fitted on the smallest and largest run.

    Per-image seconds of each phase = the slope between the two runs (so one-off costs such as
    imports at the start of a phase are not counted per image); fixed = the
    largest run's wall time minus its per-image parts. Decode phase on other core counts: the
    slope times (cores here / cores there), i.e. **assumed linear in cores** (threads decode
    independent files; storage must keep up). Write phase: serial (one TFRecord writer), unchanged.
    """
    small, big = runs[0], runs[-1]
    span = big["n"] - small["n"]
    per_decode = (big["run"]["seconds"]["decode"] - small["run"]["seconds"]["decode"]) / span
    per_write = (big["run"]["seconds"]["write"] - small["run"]["seconds"]["write"]) / span
    fixed = big["wall"] - (per_decode + per_write) * big["n"]
    out = {"per_decode": per_decode, "per_write": per_write, "fixed": fixed}
    for target in (cores, 16):
        decode = FULL_ARCHIVE * per_decode * cores / target
        out[target] = {"decode": decode, "write": FULL_ARCHIVE * per_write, "fixed": fixed,
                       "total": decode + FULL_ARCHIVE * per_write + fixed}
    large_here = np.mean([rates[s][("dct", cores)] for s in list(rates)[1:]])
    out["large_per_16"] = large_here * 16 / cores
    out["rss_per_image"] = (big["rss_mib"] - small["rss_mib"]) / span  # MiB: bookkeeping, not pixels
    out["rss_full"] = big["rss_mib"] + out["rss_per_image"] * (FULL_ARCHIVE - big["n"])
    out["disk_prepared"] = big["prepared_bytes"] / big["n"] * FULL_ARCHIVE
    out["disk_peak"] = big["peak_disk"] / big["n"] * FULL_ARCHIVE
    return out


def _sizes(text: str | None) -> list[int]:
    values = sorted({int(v) for v in (text or "").replace(" ", "").split(",") if v})
    if len(values) < 2:
        raise SystemExit(f"--sizes needs at least two archive sizes (peak RSS is compared), got {text!r}")
    return values


def _fmt_s(seconds: float) -> str:
    return f"{seconds:,.0f} s" if seconds < 5400 else f"{seconds / 3600:.1f} h"


def main(argv: list[str] | None = None) -> str:
    """Run the benchmark, print the numbers, return a Markdown section."""
    from bench.__main__ import machine

    parser = argparse.ArgumentParser(prog="python -m bench.bench_prepare", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=os.environ.get("BENCH_PREPARE_SIZES", "500,2000,5000"),
                        help="archive sizes, comma-separated (default 500,2000,5000; env BENCH_PREPARE_SIZES)")
    parser.add_argument("--resume-size", type=int, default=None,
                        help="archive size for the kill-and-resume measurement (default: the second size)")
    parser.add_argument("--workdir", type=Path, default=None, help="keep archives here (default: temp)")
    parser.add_argument("--mix", default=MIX, help=f"JPEG sizes of the archive as WxH:share:distinct images "
                        f"rendered, comma-separated; every size but the smallest counts as large (default {MIX})")
    parser.add_argument("--image-size", type=int, default=IMAGE_SIZE, help=f"data.image_size (default {IMAGE_SIZE})")
    parser.add_argument("--chunk-size", type=int, default=None,
                        help="data.chunk_size, images per work chunk (default null: ~32 MiB of pixels)")
    args = parser.parse_args(argv)
    sizes = _sizes(args.sizes)
    resume_n = args.resume_size or sizes[1]
    mix, image_size = parse_mix(args.mix), args.image_size
    cores = os.cpu_count() or 1

    with tempfile.TemporaryDirectory(prefix="bench-prepare-") as tmp:
        work = args.workdir or Path(tmp)
        t0 = time.perf_counter()
        templates = _templates(work / "templates", mix)
        print(f"templates: {', '.join(f'{len(v)} x {k}' for k, v in templates.items())} "
              f"({time.perf_counter() - t0:.0f} s)", flush=True)
        rates = decode_rates(templates, cores, image_size)
        for size, row in rates.items():
            print(f"  decode {size:>9} ({row['mb']:.2f} MB): DCT {row[('dct', 1)]:6.1f}/s 1 thread, "
                  f"{row[('dct', cores)]:6.1f}/s {cores}; full {row[('full', 1)]:5.1f}/s, "
                  f"{row[('full', cores)]:5.1f}/s; |diff| max {row['max_diff']} mean {row['mean_diff']:.2f}",
                  flush=True)
        baseline = _child(BASELINE, [])
        print(f"baseline (import prepare + pandas + Pillow; prepare needs no TensorFlow): {baseline['rss_mib']:.0f} MiB", flush=True)

        runs, archives = [], {}
        for n in sorted({*sizes, resume_n}):
            raw = work / f"raw-{n}"
            t1 = time.perf_counter()
            archives[n] = make_archive(raw, n, templates, mix)
            archives[n]["seconds"] = time.perf_counter() - t1
            if n not in sizes:
                continue
            result = measure_prepare(data_config(raw, work / f"prepared-{n}", image_size, args.chunk_size))
            result.update(n=n, raw_bytes=archives[n]["bytes"])
            runs.append(result)
            print(f"{n:>7} images: {result['wall']:6.1f} s, {n / result['wall']:6.1f} images/s, peak RSS "
                  f"{result['rss_mib']:6.0f} MiB, decode {result['run']['seconds']['decode']:.1f} s, write "
                  f"{result['run']['seconds']['write']:.1f} s, peak disk {result['peak_disk'] / MIB:,.0f} MiB "
                  f"(archive {archives[n]['bytes'] / MIB:,.0f} MiB, written in {archives[n]['seconds']:.0f} s)",
                  flush=True)
        resume = measure_resume(data_config(work / f"raw-{resume_n}", work / f"resume-{resume_n}", image_size,
                                            args.chunk_size))
        scratch = next((r["wall"] for r in runs if r["n"] == resume_n), None)
        print(f"resume ({resume_n} images): killed after {resume['killed_after']:.1f} s; rerun "
              f"{resume['rerun']:.1f} s, {resume['run']['resumed']} resumed, {resume['run']['decoded']} decoded"
              + (f"; from scratch {scratch:.1f} s" if scratch else ""), flush=True)
        took = time.perf_counter() - t0

    return _section(runs, rates, baseline, resume, resume_n, scratch, _projection(runs, rates, cores), cores,
                    machine(), took, sizes, mix, image_size)


def smoke_args(workdir: Path) -> list[str]:
    """The smallest run (tests/bench/test_bench_smoke.py): tiny JPEGs and archives, several chunks."""
    return ["--sizes", "24,48", "--mix", "64x48:0.5:2,96x72:0.3:2,128x96:0.2:2", "--image-size", "32",
            "--chunk-size", "8", "--workdir", str(workdir)]


def _section(runs, rates, baseline, resume, resume_n, scratch, proj, cores, where, took, sizes, mix_sizes,
             image_size) -> str:
    """The BENCHMARKS.md section."""
    mix = ", ".join(f"{int(share * 100)} % {s}" for s, (share, _) in mix_sizes.items())
    large = ", ".join(list(mix_sizes)[1:])
    lines = [
        "## Prepare at archive scale (bench_prepare)\n",
        f"`melanoma data prepare` (`prepare_dataset`) at {image_size} px on synthetic archives shaped like ISIC: "
        f"{mix} JPEGs; metadata with repeated `patient_id`/`lesion_id` (the synthetic planner). Only "
        f"{sum(n for _, n in mix_sizes.values())} distinct images were rendered "
        f"({', '.join(f'{n} x {k}' for k, (_, n) in mix_sizes.items())}); "
        "every isic_id holds a copy of one of them with its own JPEG comment segment, so every file "
        "has distinct bytes and decodes like its template. The archives had just been written and fit "
        f"in RAM, so reads most likely came from the page cache (no disk time). Each prepare ran in a fresh process with {cores} decoding threads "
        f"({where}). Sizes {', '.join(f'{n:,}' for n in sizes)}; the whole section took {took / 60:.1f} min.\n",
        "| images | wall | images/s | decode phase | write phase | peak RSS | CPU | raw archive "
        "| prepared folder | peak disk while preparing |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        sec = r["run"]["seconds"]
        lines.append(
            f"| {r['n']:,} | {r['wall']:.1f} s | {r['n'] / r['wall']:.1f} | {sec['decode']:.1f} s "
            f"({r['n'] / sec['decode']:.0f}/s) | {sec['write']:.1f} s ({r['n'] / sec['write']:.0f}/s) | "
            f"{r['rss_mib']:,.0f} MiB | {r['cpu']:.0f} s | {r['raw_bytes'] / MIB:,.0f} MiB | "
            f"{r['prepared_bytes'] / MIB:,.0f} MiB | {r['peak_disk'] / MIB:,.0f} MiB |")
    rss = [r["rss_mib"] for r in runs]
    lines += [
        "",
        f"**Peak RSS {min(rss):,.0f}–{max(rss):,.0f} MiB from {runs[0]['n']:,} to {runs[-1]['n']:,} images**: "
        f"the decoded pixels are bounded (chunk files of ~{runs[-1]['run']['chunk_images']} images, at most two "
        "chunks in memory); what grows is the per-image bookkeeping (metadata, ids, sha256s, the index), "
        f"{proj['rss_per_image'] * 1024:.1f} KiB per image between the smallest and the largest run, "
        f"**{proj['rss_full']:,.0f} MiB projected at {FULL_ARCHIVE:,} images**. Importing prepare, pandas, "
        f"Pillow alone (prepare imports no TensorFlow) peaks at {baseline['rss_mib']:,.0f} MiB. Peak disk (sampled every 0.1 s) "
        "is the chunk files plus the shards, about twice the prepared folder, until the work folder is "
        "removed.\n",
        f"Decode + crop/resize alone (bytes in memory; {image_size} px), images/s, and the pixel difference "
        "of DCT-scaled vs full decode (same crop and bilinear resize):\n",
        f"| JPEG | mean file | DCT-scaled, 1 thread | DCT-scaled, {cores} threads | full decode, 1 thread "
        f"| full decode, {cores} threads | speed-up | max / mean abs diff (0-255) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for size, row in rates.items():
        lines.append(
            f"| {size} | {row['mb']:.2f} MB | {row[('dct', 1)]:.1f} | {row[('dct', cores)]:.1f} | "
            f"{row[('full', 1)]:.1f} | {row[('full', cores)]:.1f} | "
            f"{row[('dct', cores)] / row[('full', cores)]:.1f}x | {row['max_diff']} / {row['mean_diff']:.2f} |")
    resumed = resume["run"]
    lines += [
        "",
        f"**Large JPEGs ({large}) DCT-scaled: {np.mean([rates[s][('dct', cores)] for s in list(rates)[1:]]):.0f}/s "
        f"on {cores} cores, projected {proj['large_per_16']:.0f}/s on 16** (target >= 200/s; projection linear "
        "in cores, an assumption, not measured).\n",
        f"Resume: a prepare of {resume_n:,} images killed with SIGKILL once half of its chunks were committed "
        f"(after {resume['killed_after']:.1f} s), then run again: {resumed['resumed']:,} of {resumed['images']:,} "
        f"images taken from the committed chunks, {resumed['decoded']:,} decoded, "
        f"**{resume['rerun']:.1f} s to finish**" + (f" vs {scratch:.1f} s from scratch" if scratch else "") + ".\n",
        f"**Projection to the full archive ({FULL_ARCHIVE:,} images, this mix)**, fitted on the "
        f"{runs[0]['n']:,}- and {runs[-1]['n']:,}-image runs: per image {proj['per_decode'] * 1000:.1f} ms of decode "
        f"phase on {cores} cores and {proj['per_write'] * 1000:.1f} ms of write phase (the slopes between the two "
        f"runs), fixed {proj['fixed']:.0f} s (start-up, imports, split). The decode phase is scaled "
        f"by cores, **assumed linear** (independent files, one thread per core, storage that keeps up; not "
        f"measured beyond {cores} cores); the write phase is serial and stays:\n",
        "| cores | decode | write | fixed | total |",
        "|---:|---:|---:|---:|---:|",
    ]
    for target in sorted({cores, 16}):
        p = proj[target]
        lines.append(f"| {target} | {_fmt_s(p['decode'])} | {_fmt_s(p['write'])} | {_fmt_s(p['fixed'])} | "
                     f"**{_fmt_s(p['total'])}** |")
    lines += [
        "",
        f"Disk for {FULL_ARCHIVE:,} images at {image_size} px: prepared folder "
        f"{proj['disk_prepared'] / 1e9:.1f} GB, peak while preparing {proj['disk_peak'] / 1e9:.1f} GB (plus the raw "
        "archive, whose real size depends on the real JPEGs).\n",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(main())
