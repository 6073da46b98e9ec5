"""Settings from the environment, and clear errors for bad settings or a broken bundle."""

from __future__ import annotations

import json
import shutil

import pytest

from serving.model import BundleError, load_model_json
from serving.settings import Settings


def test_env_settings_and_overrides(monkeypatch, tmp_path):
    monkeypatch.setenv("MELANOMA_BUNDLE", str(tmp_path))
    monkeypatch.setenv("MELANOMA_THREADS", "3")
    monkeypatch.setenv("MELANOMA_CORS_ORIGINS", "https://a.example, https://b.example")
    monkeypatch.setenv("MELANOMA_API_KEY", "k")
    s = Settings.from_env(threads=1)
    assert s.bundle_dir == tmp_path.resolve() and s.threads == 1 and s.api_key == "k"
    assert s.cors_origins == ("https://a.example", "https://b.example") and s.max_body_bytes == 15_000_000


@pytest.mark.parametrize("var,value,needle", [("MELANOMA_THREADS", "two", "MELANOMA_THREADS must be an integer"),
                                              ("MELANOMA_MAX_BODY_BYTES", "0", "MELANOMA_MAX_BODY_BYTES must be >= 1"),
                                              ("MELANOMA_MODEL_VARIANT", "fp16", "MELANOMA_MODEL_VARIANT must be")])
def test_bad_settings_name_the_variable(monkeypatch, var, value, needle):
    monkeypatch.setenv(var, value)
    with pytest.raises(ValueError, match=needle):
        Settings.from_env()


def test_broken_bundles_are_explained(tiny_bundle, tmp_path):
    with pytest.raises(BundleError, match="missing model.json.*tiny_bundle"):
        load_model_json(tmp_path)
    broken = tmp_path / "broken"
    shutil.copytree(tiny_bundle, broken)
    spec = json.loads((broken / "model.json").read_text())
    del spec["quality_gate"]
    (broken / "model.json").write_text(json.dumps(spec))
    with pytest.raises(BundleError, match="lacks required keys: quality_gate"):
        load_model_json(broken)
    (broken / "model.json").write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        load_model_json(broken)
