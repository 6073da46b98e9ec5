"""Serving: cold start, warm latency, throughput and size of the LiteRT app vs the TensorFlow path.

Side by side in one run, for an exported EfficientNetV2-B3 bundle at 224 px (random weights: speed
does not depend on them; `--model`/`--size` pick another registry backbone and input side, `--model
tiny` the test suite's tiny CNN from `melanoma_exp.export.tiny_bundle`):

- cold start: new process -> first 200 answer of the serving app under uvicorn (LiteRT), against
  the thesis-style path (new process: import TensorFlow, load model.keras, decode, predict), and a
  bare LiteRT script (numpy + Pillow + interpreter) as the floor;
- warm latency of POST /v1/predict for a 4032x3024 phone-size JPEG, p50/p99 over N requests, and
  of POST /v1/predict?explain=1 (the Grad-CAM map and overlay, explain.tflite) on the same photo,
  the two interleaved request by request in one server, with the ratio of their p50s (target <= 2);
- throughput with 1, 2, 4, 8 concurrent clients;
- size: installed serving dependencies (serving/requirements.txt, transitively) vs the TensorFlow
  environment, and the bundle files.

    python -m bench.bench_serving                 # default run (~3 min on 2 cores, B3 export included)
    python -m bench.bench_serving --requests 200  # more latency samples
    python -m bench.bench_serving --model tiny --size 32 --photo 640x480 --requests 3 --cold-runs 1 \
        --per-client 1 --bundle /tmp/tiny-32               # smallest (the test suite's smoke)

The bundle is cached in outputs/bench/serving-<model>-<size> (delete it to re-export; a cached one
without model.json `explain` is re-exported).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MB = 1024 * 1024


def build_bundle(out: Path, size: int, model_name: str = "efficientnetv2b3") -> Path:
    """Export a classifier (the project's build_model, weights=None; `tiny`: the tiny CNN) as a bundle."""
    spec = out / "model.json"
    if spec.is_file() and "explain" in json.loads(spec.read_text(encoding="utf-8")):
        return out  # cached; one exported before explain.tflite existed is exported again
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if model_name == "tiny":
        from melanoma_exp.export.tiny_bundle import make_tiny_bundle

        return make_tiny_bundle(out, size)
    from melanoma_exp.config import compose
    from melanoma_exp.export.bundle import export_bundle
    from melanoma_exp.models.build import build_model

    cfg = compose([f"model={model_name}", "model.weights=null"])
    print(f"exporting a {model_name} bundle at {size} px to {out} (about a minute for B3) ...", flush=True)
    model = build_model(cfg.model, cfg.head, size)
    return export_bundle(model, out, meta={"name": f"bench-{model_name}", "version": "bench",
                                           "architecture": model_name})


def _label(model_name: str) -> str:
    """efficientnetv2b3 -> EfficientNetV2-B3 (other names as they are)."""
    if model_name == "tiny":
        return "Tiny CNN (the test suite's)"
    if model_name.startswith("efficientnetv2"):
        return "EfficientNetV2-" + model_name.removeprefix("efficientnetv2").upper()
    return model_name


def phone_jpeg(width: int = 4032, height: int = 3024) -> bytes:
    """A phone-size synthetic lesion photo as JPEG (quality 92, like a phone camera)."""
    import tempfile

    from PIL import Image

    from melanoma_exp.data.synth import generate_synthetic

    with tempfile.TemporaryDirectory() as tmp:
        raw = generate_synthetic(Path(tmp) / "raw", n=1, size=(width, height), seed=1)
        img = Image.open(next(raw.glob("*.jpg"))).convert("RGB")
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=92)
        return buf.getvalue()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(bundle: Path) -> dict:
    return {**os.environ, "MELANOMA_BUNDLE": str(bundle), "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}


def start_server(bundle: Path, jpeg: bytes) -> tuple[subprocess.Popen, str, float]:
    """Start uvicorn in a new process; return it, its URL and seconds until the first 200 predict.

    The port is polled with bare sockets and the HTTP client exists before the clock starts, so
    the measuring side adds (almost) nothing to the number.
    """
    import httpx

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with httpx.Client(timeout=60) as http:
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "serving.app:app", "--port", str(port),
                                 "--log-level", "warning", "--no-access-log"], env=_env(bundle), cwd=ROOT)
        while True:
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            if proc.poll() is not None:
                raise RuntimeError("the serving process exited during start-up")
            time.sleep(0.002)
        r = http.post(url + "/v1/predict", content=jpeg, headers={"content-type": "image/jpeg"})
        seconds = time.perf_counter() - start
    if r.status_code != 200:
        raise RuntimeError(f"first predict answered {r.status_code}: {r.text[:300]}")
    return proc, url, seconds


TF_PATH = """
import io, sys
import numpy as np
from PIL import Image
import tensorflow as tf
import keras
model = keras.models.load_model(sys.argv[1])
img = Image.open(io.BytesIO(open(sys.argv[2], "rb").read())).convert("RGB").resize((int(sys.argv[3]),) * 2)
p = float(model.predict(np.asarray(img, np.float32)[None], verbose=0)[0, 0])
print(p)
"""

LITERT_SCRIPT = """
import io, sys
import numpy as np
from PIL import Image
from ai_edge_litert.interpreter import Interpreter
it = Interpreter(model_path=sys.argv[1], num_threads=2)
it.allocate_tensors()
img = Image.open(io.BytesIO(open(sys.argv[2], "rb").read()))
img.draft("RGB", (int(sys.argv[3]),) * 2)
x = np.asarray(img.convert("RGB").resize((int(sys.argv[3]),) * 2), np.float32)[None]
it.set_tensor(it.get_input_details()[0]["index"], x)
it.invoke()
print(float(it.get_tensor(it.get_output_details()[0]["index"])[0, 0]))
"""


def time_process(args: list[str], env: dict) -> float:
    """Seconds from process start to its exit (it prints one prediction)."""
    start = time.perf_counter()
    subprocess.run(args, env=env, check=True, capture_output=True, cwd=ROOT)
    return time.perf_counter() - start


def warm_latency(url: str, jpeg: bytes, n: int) -> dict[str, tuple[list[float], list[float]]]:
    """Client-side and server-side latencies (ms) of ``n`` sequential predictions without and ``n``
    with ``?explain=1``, interleaved (which goes first alternates), so both see the same load."""
    import httpx

    paths = {"plain": "/v1/predict", "explain": "/v1/predict?explain=1"}
    times: dict[str, tuple[list[float], list[float]]] = {kind: ([], []) for kind in paths}
    with httpx.Client(base_url=url, timeout=60) as http:
        for i in range(n):
            for kind in (("plain", "explain") if i % 2 == 0 else ("explain", "plain")):
                start = time.perf_counter()
                r = http.post(paths[kind], content=jpeg, headers={"content-type": "image/jpeg"})
                client_ms = (time.perf_counter() - start) * 1000
                body = r.json()
                if r.status_code != 200 or (kind == "explain") != ("explanation" in body):
                    raise RuntimeError(f"{paths[kind]} answered {r.status_code}: {r.text[:300]}")
                times[kind][0].append(client_ms)
                times[kind][1].append(body["latency_ms"])
    return times


def throughput(url: str, jpeg: bytes, clients: int, per_client: int) -> tuple[float, int]:
    """Requests/s and error count with ``clients`` concurrent keep-alive clients."""
    import httpx

    def run(_: int) -> int:
        errors = 0
        with httpx.Client(base_url=url, timeout=120) as http:
            for _ in range(per_client):
                r = http.post("/v1/predict", content=jpeg, headers={"content-type": "image/jpeg"})
                errors += r.status_code != 200
        return errors

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        errors = sum(pool.map(run, range(clients)))
    return clients * per_client / (time.perf_counter() - start), errors


def installed_size(requirements: list[str]) -> tuple[float, int]:
    """MiB installed by the transitive closure of ``requirements`` in this environment."""
    from importlib import metadata

    from packaging.requirements import Requirement

    seen: set[str] = set()
    total = 0
    stack = [Requirement(r).name for r in requirements]
    while stack:
        name = re.sub(r"[-_.]+", "-", stack.pop()).lower()
        if name in seen:
            continue
        seen.add(name)
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        total += sum((f.size or 0) for f in (dist.files or []))
        for req in map(Requirement, dist.requires or []):
            if req.marker is None or req.marker.evaluate({"extra": ""}):
                stack.append(req.name)
    return total / MB, len(seen)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def smoke_args(workdir: Path) -> list[str]:
    """The smallest run (tests/bench/test_bench_smoke.py): the tiny CNN's bundle at 32 px in `workdir`,
    a few requests."""
    return ["--model", "tiny", "--size", "32", "--photo", "640x480", "--requests", "3",
            "--cold-runs", "1", "--per-client", "1", "--bundle", str(workdir / "bundle")]


def main(argv: list[str] | None = None) -> str:
    """Run the benchmark, print the numbers, return a Markdown section."""
    parser = argparse.ArgumentParser(prog="python -m bench.bench_serving", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=224, help="model input side (default 224)")
    parser.add_argument("--requests", type=int, default=60, help="warm latency samples (default 60)")
    parser.add_argument("--cold-runs", type=int, default=3, help="cold starts per path (default 3)")
    parser.add_argument("--per-client", type=int, default=8, help="requests per client in throughput runs")
    parser.add_argument("--model", default="efficientnetv2b3",
                        help="registry backbone, or tiny: the tiny CNN (default efficientnetv2b3)")
    parser.add_argument("--photo", default="4032x3024", help="the phone photo's size, WxH (default 4032x3024)")
    parser.add_argument("--bundle", type=Path, default=None,
                        help="bundle folder, exported when missing (default outputs/bench/serving-<model>-<size>)")
    args = parser.parse_args(argv)
    photo_w, photo_h = (int(v) for v in args.photo.lower().split("x"))

    out = args.bundle or ROOT / "outputs" / "bench" / f"serving-{args.model.removeprefix('efficientnetv2')}-{args.size}"
    bundle = build_bundle(out, args.size, args.model)
    jpeg = phone_jpeg(photo_w, photo_h)
    photo = bundle.parent / f"phone-{photo_w}x{photo_h}.jpg"
    photo.write_bytes(jpeg)
    load = os.getloadavg()[0]
    print(f"phone JPEG: {len(jpeg) / MB:.1f} MiB; load average before: {load:.1f}", flush=True)

    cold_app, cold_tf, cold_bare = [], [], []
    for _ in range(args.cold_runs):
        proc, _, seconds = start_server(bundle, jpeg)
        proc.terminate()
        proc.wait()
        cold_app.append(seconds)
        cold_bare.append(time_process([sys.executable, "-c", LITERT_SCRIPT, str(bundle / "model.tflite"),
                                       str(photo), str(args.size)], _env(bundle)))
    for _ in range(max(1, args.cold_runs - 1)):  # the TF path is slow; fewer runs
        cold_tf.append(time_process([sys.executable, "-c", TF_PATH, str(bundle / "model.keras"), str(photo),
                                     str(args.size)], _env(bundle)))
    print(f"cold start: app {min(cold_app):.2f} s, bare LiteRT {min(cold_bare):.2f} s, "
          f"TensorFlow path {min(cold_tf):.2f} s", flush=True)

    proc, url, _ = start_server(bundle, jpeg)
    try:
        warm_latency(url, jpeg, 5)  # warm-up (loads explain.tflite on the first explained request)
        latency = warm_latency(url, jpeg, args.requests)
        rates = {c: throughput(url, jpeg, c, args.per_client) for c in (1, 2, 4, 8)}
    finally:
        proc.terminate()
        proc.wait()
    (client_ms, server_ms), (explain_client, explain_server) = latency["plain"], latency["explain"]
    ratio = _pct(explain_client, .5) / _pct(client_ms, .5)
    print(f"warm latency (client): p50 {_pct(client_ms, .5):.1f} ms, p99 {_pct(client_ms, .99):.1f} ms; "
          f"with explain=1: p50 {_pct(explain_client, .5):.1f} ms, p99 {_pct(explain_client, .99):.1f} ms "
          f"({ratio:.2f}x plain p50; target <= 2)", flush=True)

    serve_req = [ln.strip() for ln in (ROOT / "serving" / "requirements.txt").read_text().splitlines()
                 if ln.strip() and not ln.startswith("#")]
    serve_mb, serve_n = installed_size(serve_req)
    tf_mb, tf_n = installed_size(["tensorflow", "keras"])
    sizes = {name: (bundle / name).stat().st_size / MB
             for name in ("model.keras", "model.tflite", "model_int8.tflite", "explain.tflite")
             if (bundle / name).is_file()}

    rows = [
        "## Serving: LiteRT app vs TensorFlow path (bench_serving)",
        "",
        f"{_label(args.model)} bundle at {args.size} px; {os.cpu_count()} CPU cores; load average at start "
        f"{load:.1f} (other work on the machine inflates every number). Phone photo: {photo_w}x{photo_h} JPEG, "
        f"{len(jpeg) / MB:.1f} MiB.",
        "",
        "| Measure | Value |",
        "|---|---|",
        f"| Cold start, serving app (new uvicorn process -> first 200 predict), best / median of {len(cold_app)} "
        f"| {min(cold_app):.2f} s / {statistics.median(cold_app):.2f} s |",
        f"| Cold start, bare LiteRT script (import, load, decode, predict), best | {min(cold_bare):.2f} s |",
        f"| Cold start, TensorFlow path (import TF, load .keras, predict), best of {len(cold_tf)} "
        f"| {min(cold_tf):.2f} s |",
        f"| Warm latency, client side, p50 / p99 ({args.requests} requests) "
        f"| {_pct(client_ms, .5):.1f} ms / {_pct(client_ms, .99):.1f} ms |",
        f"| Warm latency, server side (decode+quality+model), p50 / p99 "
        f"| {_pct(server_ms, .5):.1f} ms / {_pct(server_ms, .99):.1f} ms |",
        f"| Warm latency with ?explain=1 (map + overlay PNG), client side, p50 / p99 ({args.requests} "
        f"requests, interleaved with the plain ones) | {_pct(explain_client, .5):.1f} ms / "
        f"{_pct(explain_client, .99):.1f} ms |",
        f"| Warm latency with ?explain=1, server side, p50 / p99 "
        f"| {_pct(explain_server, .5):.1f} ms / {_pct(explain_server, .99):.1f} ms |",
        f"| explain=1 p50 / plain p50, client side (target <= 2) | {ratio:.2f}x |",
        *[f"| Throughput, {c} concurrent client(s) | {rate:.1f} req/s ({errors} errors) |"
          for c, (rate, errors) in rates.items()],
        f"| Installed serving dependencies ({serve_n} distributions) | {serve_mb:.0f} MiB |",
        f"| Installed TensorFlow + Keras ({tf_n} distributions) | {tf_mb:.0f} MiB |",
        *[f"| {name} | {mb:.1f} MiB |" for name, mb in sizes.items()],
        "",
    ]
    report = "\n".join(rows)
    print(report)
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
