"""The whole journey on a fresh copy of the repository, exactly as the README tells a newcomer:

    make demo -> make ui (both dashboards, then SIGTERM) -> a 3-trial Optuna sweep -> register +
    promote -> export -> serve -> predict over HTTP and through the AWS Lambda runtime path.

Nothing here depends on state from another test: the copy has its own `data/` and `outputs/`. It runs
in the suite's own environment (`make ... VENV=<this .venv>`, with MELANOMA_ROOT naming the copy so the
environment's console scripts work on the copy): that environment was built by `make setup` from
requirements.lock on this same fresh checkout (CI clones fresh), so a second install would only test
pip again. Marked slow; `make test` runs it.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "serving"))
from serving_helpers import (  # noqa: E402
    encode,
    free_port,
    http_v2_event,
    lesion_image,
    run_lambda_runtime,
    wait_http,
)

# make demo takes <= 10 minutes on 2 free cores; the limit leaves room for a loaded machine
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]
VENV = Path(sys.prefix)  # the suite's environment, built by `make setup` from requirements.lock
MODEL_NAME = "melanoma-classifier"  # the name `make demo` registers its run under


def fresh_copy(dest: Path) -> Path:
    """Copy what a clone would hold (tracked and not-ignored files), nothing generated."""
    listing = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=ROOT,
                             capture_output=True, check=True, timeout=60).stdout.decode()
    for rel in filter(None, listing.split("\0")):
        source = ROOT / rel
        if source.is_file():  # a tracked file deleted in the work tree is not part of the copy
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / rel)
    return dest


def newcomer_env(repo: Path) -> dict[str, str]:
    """The environment of a person in a new shell in ``repo``: no project variables but the root,
    not inside our venv, not inside our make."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MELANOMA_", "MLFLOW_TRACKING", "VIRTUAL_ENV", "PYTHONPATH"))
           and k not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS", "TF_CPP_MIN_LOG_LEVEL")}  # the last: the suite's own
    ours = str(VENV / "bin")
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if p != ours)
    env["MELANOMA_ROOT"] = str(repo)
    return env


def run(cmd: list[str], cwd: Path, timeout: int, env: dict | None = None) -> str:
    """Run a command the way a person would; fail with the tail of its output."""
    proc = subprocess.run(cmd, cwd=cwd, env=env or newcomer_env(cwd), capture_output=True, text=True,
                          timeout=timeout)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(cmd)} exited {proc.returncode}:\n{output[-4000:]}"
    return output


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    return fresh_copy(tmp_path_factory.mktemp("journey") / "melanoma-exp")


@pytest.fixture(scope="module")
def after_demo(repo) -> dict:
    """`make demo` on the fresh copy, in the suite's environment (set up already: no reinstall)."""
    start = time.monotonic()
    output = run(["make", "demo", f"VENV={VENV}"], repo, timeout=1700)
    return {"output": output, "seconds": time.monotonic() - start}


def test_make_demo_learns_real_lesions_and_reports_the_real_test_auc_beside_the_anchors(repo, after_demo):
    """Issue #23: the demo fine-tunes the pretrained Lite0 on the real sample, offline, and its summary
    prints the real test AUC with its interval beside the published anchors."""
    output = after_demo["output"]
    assert "pip install" not in output, "the environment was set up already"
    assert "baseline" in output.lower()
    assert "not medical advice" in output.lower()
    assert "failed call to cuInit" not in output and "absl::InitializeLog" not in output  # item 8
    assert re.search(r"\[device\] Keras on tensorflow: training on (CPU|GPU)", output)
    report = json.loads(next((repo / "outputs").rglob("evaluation/report.json")).read_text())
    assert report["data"]["source"] == "isic_sample" and report["data"]["kind"].startswith("real sample")
    assert report["data"]["grouping"]["grouped"] is False
    assert report["model"]["name"] == "efficientnet_lite0" and report["model"]["weights"] == "imagenet"
    auc = report["clinical"]["test_auc"]
    low, high = auc["auc_ci"]
    assert re.search(rf"test AUC {auc['auc']:.3f} \(95% bootstrap CI {low:.3f}-{high:.3f}\) on {auc['n']} images",
                     output), output[-4000:]
    assert "published anchors" in output and "Marchetti" in output and "Table 4.10" in output
    # far above chance on real dermoscopy it never saw (the synthetic-trained bundle ranked it at 0.51)
    assert auc["auc"] > 0.6, auc


def test_make_serve_after_the_demo_flags_real_photos_and_passes_real_lesions(repo, after_demo):
    """Issues #12 and #23, as a new user tries it: `make demo`, `make serve`, then real photos of a
    flower, a cat and a page of text (shipped in scikit-learn / scikit-image wheels) are "not a lesion",
    and real dermoscopy of the demo's test split (never trained on) is judged, not sent back."""
    from PIL import Image

    from melanoma_exp.data.real_photos import real_photos

    report = json.loads(next((repo / "outputs").rglob("evaluation/report.json")).read_text())
    ood = report["clinical"]["ood"]
    held = ood["held_out"]
    assert ood["method"] == "lesion_gate" and held["sources"] and held["n_real_photos"] >= 10
    assert held["real_photo_detection_rate"] >= 0.95, held["missed_real_photos"]
    assert ood["fit"]["lesion_rejection_rate"] <= 0.05 and held["auroc"] >= 0.95
    bundle = repo / "outputs" / "bundle"
    spec = json.loads((bundle / "model.json").read_text())
    assert spec["ood"]["method"] == "lesion_gate" and spec["ood"]["threshold"] == pytest.approx(ood["threshold"])
    assert spec["clinical"]["ood"]["held_out"]["real_photo_detection_rate"] == held["real_photo_detection_rate"]
    assert "real non-lesion photos flagged" in (bundle / "MODEL_CARD.md").read_text()
    assert str(repo) not in (bundle / "model.json").read_text(), "a shipped bundle names no local path"

    prepared = Path(report["data"]["prepared_dir"])
    test_ids = [line.split(",")[0] for line in (prepared / "index.csv").read_text().splitlines()[1:]
                if line.split(",")[2] == "test"]
    port = free_port()
    log = repo / "outputs" / "make_serve.log"
    with log.open("w") as out:
        make = subprocess.Popen(["make", "serve", f"VENV={VENV}", f"PORT={port}", "HOST=127.0.0.1"], cwd=repo,
                                env=newcomer_env(repo), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", timeout=120, proc=make)
        photos = {p.name: p for p in real_photos(("scikit-learn", "scikit-image"))}
        for name in ("flower", "chelsea", "page"):  # a flower, a cat, a page of text
            answer = httpx.post(f"http://127.0.0.1:{port}/v1/predict", timeout=60, files={
                "image": (f"{name}.jpg", encode(Image.fromarray(photos[name].rgb), quality=90), "image/jpeg")}).json()
            assert "not_a_lesion" in answer["quality"]["issues"], (name, answer)
            text = answer["recommendation"]["text"]
            assert text.startswith("This does not look like a photo of a skin lesion — retake"), text
            assert answer["recommendation"]["level"] != "seek_care" and "not medical advice" in answer["disclaimer"].lower()
        sent_back = []
        for isic_id in test_ids:
            path = repo / "samples" / "isic_uda1" / f"{isic_id}.jpg"
            answer = httpx.post(f"http://127.0.0.1:{port}/v1/predict", timeout=60,
                                files={"image": (path.name, path.read_bytes(), "image/jpeg")}).json()
            if answer["quality"]["issues"]:
                sent_back.append((isic_id, answer["quality"]["issues"]))
        # the issue saw 60 % of real lesions called "not a lesion"; the gate's own test holds <= 5 %
        assert len(sent_back) <= 0.10 * len(test_ids), sent_back
    finally:
        os.killpg(make.pid, signal.SIGTERM)
        make.wait(timeout=30)


def test_melanoma_explain_after_the_demo_shows_where_the_model_looked(repo, after_demo):
    """Issue #25, the README's journey line: `melanoma explain PHOTO` on the bundle `make demo` exported
    gives the endpoint's verdict and an overlay PNG of where the model looked."""
    from PIL import Image

    output = melanoma(repo, "explain", "samples/isic_uda1/ISIC_0000002.jpg")
    answer = json.loads(next(line for line in output.splitlines() if line.startswith("{")))
    spec = json.loads((repo / "outputs" / "bundle" / "model.json").read_text())
    assert answer["label"] in ("benign", "malignant") and "not medical advice" in answer["disclaimer"].lower()
    heat = answer["explanation"]["heatmap"]
    assert answer["explanation"]["available"] is True and spec["explain"]["layer"] == "backbone/top_activation"
    assert [1, heat["height"], heat["width"]] == spec["explain"]["outputs"]["heatmap"]["shape"] == [1, 7, 7]
    assert max(max(row) for row in heat["values"]) == pytest.approx(1.0, abs=1e-3)
    with Image.open(repo / "outputs" / "explain" / "ISIC_0000002.explain.png") as figure:
        assert figure.width > 300


def alive(pids: list[int]) -> list[int]:
    return [p for p in pids if Path(f"/proc/{p}").exists()
            and Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"]


def test_make_ui_right_after_the_demo_serves_both_dashboards_and_sigterm_stops_everything(repo, after_demo):
    from melanoma_exp.commands.ui import _descendants

    assert not (repo / "outputs" / "optuna").exists(), "no sweep has run yet: the case that used to fail"
    mlflow_port, optuna_port = free_port(), free_port()
    log = repo / "outputs" / "make_ui.log"
    with log.open("w") as out:
        make = subprocess.Popen(["make", "ui", f"VENV={VENV}", f"MLFLOW_PORT={mlflow_port}",
                                 f"OPTUNA_PORT={optuna_port}"], cwd=repo, env=newcomer_env(repo), stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    try:
        for url in (f"http://127.0.0.1:{mlflow_port}/", f"http://127.0.0.1:{optuna_port}/"):
            wait_http(url, timeout=120, proc=make)
            page = httpx.get(url, timeout=30, follow_redirects=True)
            assert page.status_code == 200 and "<html" in page.text.lower(), (url, log.read_text()[-2000:])
        demo_runs = httpx.get(f"http://127.0.0.1:{mlflow_port}/api/2.0/mlflow/experiments/search?"
                              "max_results=50", timeout=30).json()
        assert "melanoma-demo" in [e["name"] for e in demo_runs["experiments"]], "the demo's experiment"
        launcher = next(p for p in _descendants(make.pid)  # `melanoma ui`, started by make
                        if "\0ui\0" in Path(f"/proc/{p}/cmdline").read_text())
        family = [launcher, *_descendants(launcher)]
        os.kill(launcher, signal.SIGTERM)  # a service manager or `kill`, not Ctrl-C to the whole group
        assert make.wait(timeout=60) == 0, log.read_text()[-3000:]
        deadline = time.monotonic() + 20
        while alive(family) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not alive(family), f"left running after SIGTERM: {alive(family)}\n{log.read_text()[-2000:]}"
    finally:
        if make.poll() is None:  # a check failed: leave nothing running behind
            leftovers = _descendants(make.pid)
            os.killpg(make.pid, signal.SIGKILL)
            make.wait()
            for pid in alive(leftovers):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def sweep(repo, after_demo) -> dict:
    """A 3-trial sweep on the synthetic set through `run.py` — the headline command, tiny."""
    py = str(VENV / "bin" / "python")
    output = run([py, "run.py", "+experiment=smoke", "+sweep=optuna", "sweep.n_trials=3"], repo, timeout=900)
    best_run = re.search(r"melanoma register (\w+)", output)
    assert best_run, output[-3000:]
    return {"output": output, "best_run": best_run.group(1)}


def test_sweep_reaches_three_trials_and_names_its_best_run(sweep):
    assert re.search(r"3/3 trials", sweep["output"]), sweep["output"][-3000:]


def melanoma(repo: Path, *args: str, timeout: int = 600) -> str:
    return run([str(VENV / "bin" / "melanoma"), *args], repo, timeout=timeout)


@pytest.fixture(scope="module")
def bundle(repo, after_demo, sweep) -> Path:
    """`make demo` registered its run (v1, champion); register the sweep's best (v2), promote it, export."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{repo}/outputs/mlflow/mlflow.db")
    assert str(client.get_model_version_by_alias(MODEL_NAME, "champion").version) == "1"
    melanoma(repo, "register", sweep["best_run"], "--name", MODEL_NAME)
    assert str(client.get_model_version_by_alias(MODEL_NAME, "champion").version) == "1"
    melanoma(repo, "promote", MODEL_NAME, "2")
    assert str(client.get_model_version_by_alias(MODEL_NAME, "champion").version) == "2"
    out = repo / "outputs" / "journey_bundle"
    melanoma(repo, "export", f"models:/{MODEL_NAME}@champion", "--out", str(out), timeout=900)
    return out


def test_bundle_has_the_contract_files(bundle):
    for name in ("model.keras", "model.tflite", "model_int8.tflite", "model.json", "MODEL_CARD.md"):
        assert (bundle / name).stat().st_size > 0, name
    meta = json.loads((bundle / "model.json").read_text())
    assert str(meta["version"]) == "2" and meta["labels"] == ["benign", "malignant"]
    # An inference model: no optimizer slots (Adam keeps two per weight) in the bundle's model.keras.
    keras_size, tflite_size = ((bundle / name).stat().st_size for name in ("model.keras", "model.tflite"))
    assert keras_size <= 1.10 * tflite_size, (keras_size, tflite_size)


def check_answer(answer: dict) -> None:
    """What a phone gets back: verdict, probabilities, advice, disclaimer, the promoted model."""
    assert answer["label"] in ("benign", "malignant")
    assert 0.0 <= answer["malignant_probability"] <= 1.0
    assert answer["benign_probability"] == pytest.approx(1 - answer["malignant_probability"], abs=1e-6)
    assert answer["recommendation"]["text"] and "safe" not in answer["recommendation"]["text"].lower()
    assert "not medical advice" in answer["disclaimer"].lower()
    assert answer["model"] == {"name": MODEL_NAME, "version": "2"}


@pytest.fixture(scope="module")
def phone_jpeg() -> bytes:
    return encode(lesion_image((4032, 3024), seed=11), quality=90)


def test_served_over_http(repo, bundle, phone_jpeg):
    port = free_port()
    proc = subprocess.Popen([str(VENV / "bin" / "melanoma"), "serve", "--bundle", str(bundle),
                             "--port", str(port)], cwd=repo, env=newcomer_env(repo),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", timeout=60, proc=proc)
        reply = httpx.post(f"http://127.0.0.1:{port}/v1/predict", files={"image": ("mole.jpg", phone_jpeg,
                           "image/jpeg")}, timeout=60)
        assert reply.status_code == 200, reply.text
        check_answer(reply.json())
    finally:
        proc.terminate()
        proc.wait(timeout=20)


def test_served_through_the_lambda_runtime(repo, bundle, phone_jpeg):
    event = http_v2_event("POST", "/v1/predict", phone_jpeg, {"content-type": "image/jpeg"})
    env = {**newcomer_env(repo), "MELANOMA_BUNDLE": str(bundle), "LAMBDA_TASK_ROOT": str(repo)}
    responses, errors, output = run_lambda_runtime(str(VENV / "bin" / "python"), [event], repo,
                                                   env, timeout=120)
    assert not errors, f"{errors}\n{output[-3000:]}"
    response = responses["req-0"]
    assert response["statusCode"] == 200, response
    body = base64.b64decode(response["body"]) if response.get("isBase64Encoded") else response["body"]
    check_answer(json.loads(body))
