"""Comparing runs trained with and without the capture preset: the numbers are the runs' own report
numbers, the paired test tells a real difference from none, and a sensitivity cost is called out.

The "models" are NumPy functions of image brightness, scored by the real `robustness_report` on
real degraded copies, so each run's report is what the clinical hook writes (no TF needed here).
"""

import numpy as np
import pytest

from melanoma_exp.evaluation.robustness_compare import (
    card_lines,
    card_summary,
    compare_robustness,
    effect_sentence,
    mlflow_metrics,
    write_comparison,
)

from .robustness_runs import IMAGES, brightness_predict, run_report


@pytest.fixture(scope="module")
def reports():
    """Two seeds without the preset (jumpy) and two with it (steadier, but centred higher)."""
    return {"plain-0": run_report(brightness_predict(12), 0.0),
            "plain-1": run_report(brightness_predict(14), 0.0),
            "capture-0": run_report(brightness_predict(60, 140), 0.5),
            "capture-1": run_report(brightness_predict(50, 140), 0.5)}


def test_comparison_numbers_are_the_runs_report_numbers(reports):
    comparison = compare_robustness(reports)
    by_run = {r["run"]: r for r in comparison["runs"]}
    for run, report in reports.items():
        rob, row = report["clinical"]["robustness"], by_run[run]
        assert row["swing_median_pp"] == rob["swing_pp"]["median"]
        assert row["swing_p95_pp"] == rob["swing_pp"]["p95"]
        assert row["flip_rate"] == rob["flip_rate"]
        assert row["sensitivity"] == report["test"]["sensitivity"]
        assert row["accuracy"] == report["test"]["accuracy"]
        assert row["capture_preset"] == rob["trained_with_capture_preset"]
    without, with_preset = comparison["groups"]
    assert (without["capture_preset"], with_preset["capture_preset"]) == (0.0, 0.5)
    assert without["runs"] == ["plain-0", "plain-1"] and with_preset["n_runs"] == 2
    assert with_preset["swing_median_pp"] == pytest.approx(
        np.mean([reports[r]["clinical"]["robustness"]["swing_pp"]["median"] for r in ("capture-0", "capture-1")]))
    assert without["swing_p95_pp_range"] == sorted(
        reports[r]["clinical"]["robustness"]["swing_pp"]["p95"] for r in ("plain-0", "plain-1"))
    (effect,) = comparison["effects"]
    assert effect["swing_median_pp_change"] == pytest.approx(with_preset["swing_median_pp"] - without["swing_median_pp"])
    assert effect["sensitivity_change"] == pytest.approx(with_preset["sensitivity"] - without["sensitivity"])
    assert mlflow_metrics(comparison)["robustness_comparison/flip_rate_change"] == effect["flip_rate_change"]


def test_a_steadier_model_is_measurably_steadier_and_its_sensitivity_cost_is_called_out(reports):
    (effect,) = compare_robustness(reports)["effects"]
    assert effect["swing_median_pp_change"] < -10 and effect["flip_rate_change"] <= 0
    assert effect["wilcoxon_p"] < 0.01 and effect["verdict"] == "steadier with the preset"
    assert effect["images_steadier"] > 0.9
    # centred at 140, the steadier model misses the darker malignant images
    assert effect["sensitivity_change"] < 0 and effect["costs_sensitivity"]
    assert "Sensitivity is lower with the preset (more missed melanomas)" in effect_sentence(effect)


def test_identical_models_show_no_measurable_difference():
    same = brightness_predict(12)
    (effect,) = compare_robustness({"a": run_report(same, 0.0), "b": run_report(same, 0.5)})["effects"]
    assert effect["wilcoxon_p"] == 1.0 and effect["verdict"] == "no measurable difference in swing"
    assert effect["swing_median_pp_change"] == 0 and not effect["costs_sensitivity"]


def test_run_without_robustness_report_is_named(reports):
    no_check = {"test": {"sensitivity": 0.9}, "clinical": {"robustness": None}}
    with pytest.raises(ValueError, match="run 0123abcd has no robustness report"):
        compare_robustness({"plain-0": reports["plain-0"], "0123abcd": no_check})
    with pytest.raises(ValueError, match="run empty-run has no robustness report"):
        compare_robustness({"plain-0": reports["plain-0"], "empty-run": {}})


def test_runs_scored_on_different_images_or_one_preset_share_do_not_compare(reports):
    other_data = run_report(brightness_predict(12), 0.5, prepared="/data/prepared/other")
    with pytest.raises(ValueError, match="plain-0 and elsewhere scored different test images"):
        compare_robustness({"plain-0": reports["plain-0"], "elsewhere": other_data})
    fewer = run_report(brightness_predict(12), 0.5, images=IMAGES[:10])
    with pytest.raises(ValueError, match="n_images"):
        compare_robustness({"plain-0": reports["plain-0"], "fewer": fewer})
    with pytest.raises(ValueError, match="nothing to compare"):
        compare_robustness({"plain-0": reports["plain-0"], "plain-1": reports["plain-1"]})


def test_table_plot_and_json_are_written(reports, tmp_path):
    import json

    comparison = compare_robustness(reports)
    files = write_comparison(comparison, tmp_path / "cmp")
    table = files["markdown"].read_text()
    assert "| plain-0 | 0 |" in table and "| **mean of 2** | **0.5** |" in table
    assert "median swing (pp)" in table and "sensitivity" in table and "not a medical device" in table
    with_preset = comparison["groups"][1]
    assert f"{with_preset['swing_median_pp']:.1f}" in table and "steadier with the preset" in table
    assert json.loads(files["json"].read_text())["effects"] == comparison["effects"]
    assert files["plot"].read_bytes()[:4] == b"\x89PNG" and files["plot"].stat().st_size > 10000


def test_model_card_section_of_a_model_trained_with_the_preset(reports):
    from melanoma_exp.export.bundle import build_model_json
    from melanoma_exp.export.model_card import render_model_card

    comparison = compare_robustness(reports)
    summary = card_summary(comparison, "capture-1")
    assert summary["this_model_capture_preset"] == 0.5 and summary["runs"] == list(reports)
    spec = build_model_json({"name": "m", "threshold": 0.4}, height=32, width=32)
    card = render_model_card({**spec, "robustness_comparison": summary})
    assert "## Capture augmentation preset: measured effect" in card
    assert "This model trained with the capture preset on 50% of images" in card
    assert "| 0.5 (this model) | 2 |" in card and "| 0 | 2 |" in card
    assert "Sensitivity is lower with the preset (more missed melanomas)" in card
    assert card.index("measured effect") < card.index("## Limitations")
    assert "measured effect" not in render_model_card(spec) and card_lines(None) == []
