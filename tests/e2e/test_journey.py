"""The whole journey on a fresh copy of the repository, exactly as the README tells a newcomer:

    make demo -> a 3-trial Optuna sweep -> register + promote -> export -> serve -> predict over HTTP
    and through the AWS Lambda runtime path.

Nothing here depends on state from another test: the copy gets its own `.venv` (built by `make demo`
from requirements.lock), its own `data/` and `outputs/`. Marked slow; `make test` runs it.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
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

pytestmark = pytest.mark.slow
MODEL_NAME = "melanoma-classifier"  # the name `make demo` registers its run under


def fresh_copy(dest: Path) -> Path:
    """Copy what a clone would hold (tracked and not-ignored files), nothing generated."""
    listing = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=ROOT,
                             capture_output=True, check=True).stdout.decode()
    for rel in filter(None, listing.split("\0")):
        source = ROOT / rel
        if source.is_file():  # a tracked file deleted in the work tree is not part of the copy
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / rel)
    return dest


def newcomer_env() -> dict[str, str]:
    """The environment of a person in a new shell: no project variables, not inside our venv."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MELANOMA_", "MLFLOW_TRACKING", "VIRTUAL_ENV", "PYTHONPATH"))}
    ours = str(ROOT / ".venv" / "bin")
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if p != ours)
    return env


def run(cmd: list[str], cwd: Path, timeout: int, env: dict | None = None) -> str:
    """Run a command the way a person would; fail with the tail of its output."""
    proc = subprocess.run(cmd, cwd=cwd, env=env or newcomer_env(), capture_output=True, text=True,
                          timeout=timeout)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{' '.join(cmd)} exited {proc.returncode}:\n{output[-4000:]}"
    return output


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    return fresh_copy(tmp_path_factory.mktemp("journey") / "melanoma-exp")


@pytest.fixture(scope="module")
def after_demo(repo) -> dict:
    """`make demo` on the fresh copy (it sets up its own .venv first)."""
    start = time.monotonic()
    output = run(["make", "demo"], repo, timeout=1200)
    return {"output": output, "seconds": time.monotonic() - start}


def test_make_demo_trains_beats_the_baseline_and_says_it_is_not_medical_advice(repo, after_demo):
    output = after_demo["output"]
    assert (repo / ".venv" / "bin" / "python").exists()
    assert "baseline" in output.lower()
    assert "not medical advice" in output.lower()
    report = json.loads(next((repo / "outputs").rglob("evaluation/report.json")).read_text())
    assert report["test"]["accuracy"] > report["baseline"]["accuracy"]


@pytest.fixture(scope="module")
def sweep(repo, after_demo) -> dict:
    """A 3-trial sweep on the synthetic set through `run.py` — the headline command, tiny."""
    py = str(repo / ".venv" / "bin" / "python")
    output = run([py, "run.py", "+experiment=smoke", "+sweep=optuna", "sweep.n_trials=3"], repo, timeout=900)
    best_run = re.search(r"melanoma register (\w+)", output)
    assert best_run, output[-3000:]
    return {"output": output, "best_run": best_run.group(1)}


def test_sweep_reaches_three_trials_and_names_its_best_run(sweep):
    assert re.search(r"3/3 trials", sweep["output"]), sweep["output"][-3000:]


def melanoma(repo: Path, *args: str, timeout: int = 600) -> str:
    return run([str(repo / ".venv" / "bin" / "melanoma"), *args], repo, timeout=timeout)


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
    proc = subprocess.Popen([str(repo / ".venv" / "bin" / "melanoma"), "serve", "--bundle", str(bundle),
                             "--port", str(port)], cwd=repo, env=newcomer_env(),
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
    env = {**newcomer_env(), "MELANOMA_BUNDLE": str(bundle), "LAMBDA_TASK_ROOT": str(repo)}
    responses, errors, output = run_lambda_runtime(str(repo / ".venv" / "bin" / "python"), [event], repo,
                                                   env, timeout=120)
    assert not errors, f"{errors}\n{output[-3000:]}"
    response = responses["req-0"]
    assert response["statusCode"] == 200, response
    body = base64.b64decode(response["body"]) if response.get("isBase64Encoded") else response["body"]
    check_answer(json.loads(body))
