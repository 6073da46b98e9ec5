"""The data step of `make demo` and the benchmark runner's discovery."""

from __future__ import annotations

from melanoma_exp.commands.demo import DEMO_STEPS, step_data
from melanoma_exp.config import compose


def test_demo_data_step_generates_prepares_and_summarises(project_tmp, tmp_path, capsys):
    cfg = compose([*project_tmp, "data.image_size=24", "data.batch_size=16", "data.synth.n=60",
                   "data.synth.size=32", "data.split.val=0.2", "data.split.test=0.2"])
    state = step_data({"cfg": cfg})
    out = capsys.readouterr().out
    prepared = state["prepared_dir"]
    assert prepared.parent == tmp_path / "data" / "prepared" and (prepared / "manifest.json").is_file()
    assert "generating synthetic raw data (60 images" in out
    assert "input pipeline (train split, as the trainer reads it" in out
    assert "(16, 24, 24, 3) uint8" in out and "images/s" in out
    assert DEMO_STEPS[0] is step_data


def test_bench_runner_finds_the_pipeline_benchmark():
    from bench.__main__ import discover

    assert "pipeline" in discover()
