"""OOD check: the score separates synthetic lesions from non-lesion images on a held-out set."""

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from melanoma_exp.data.nonlesion import non_lesion_images
from melanoma_exp.evaluation.ood import MahalanobisOOD, feature_extractor

from .tiny_models import small_cnn


@pytest.fixture(scope="module")
def lesions(synthetic_raw):
    """The shared synthetic lesion photos at 32 px with labels (Indeterminate rows dropped)."""
    md = pd.read_csv(synthetic_raw / "metadata.csv")
    md = md[md["diagnosis_1"].isin(["Benign", "Malignant"])]
    images = np.stack([
        np.asarray(Image.open(synthetic_raw / f"{i}.jpg").convert("RGB").resize((32, 32)), np.float32)
        for i in md["isic_id"]
    ])
    return images, (md["diagnosis_1"] == "Malignant").astype(int).to_numpy()


def test_ood_score_separates_lesions_from_non_lesion_images(lesions, tmp_path):
    images, labels = lesions
    features = feature_extractor(small_cnn()).predict
    lesion_f = features(images, verbose=0)
    non, kinds = non_lesion_images(150, 32, seed=1)
    non_f = features(non, verbose=0)
    n = len(images)
    train, val, test = slice(0, n // 2), slice(n // 2, 3 * n // 4), slice(3 * n // 4, n)

    detector = MahalanobisOOD(n_components=16).fit(lesion_f[train], labels[train])
    fit = detector.fit_threshold(lesion_f[val], non_f[:75], max_lesion_rejection=0.05)
    assert fit["lesion_rejection_rate"] <= 0.05

    # held out: lesions and non-lesion images never seen by fit or fit_threshold
    held_out = detector.evaluate(lesion_f[test], non_f[75:])
    assert held_out["auroc"] > 0.9
    assert held_out["lesion_rejection_rate"] <= 0.15
    flagged = detector.is_out_of_distribution(non_f[75:])
    for kind in ("noise", "flat", "scene"):
        mask = np.array(kinds[75:]) == kind
        assert flagged[mask].mean() >= 0.7, kind

    # The bundle carries it as JSON; a round trip scores identically.
    path = tmp_path / "ood.json"
    path.write_text(json.dumps(detector.to_dict()))
    restored = MahalanobisOOD.from_dict(json.loads(path.read_text()))
    np.testing.assert_allclose(restored.score(non_f[75:]), detector.score(non_f[75:]))
    assert restored.threshold == detector.threshold


def test_feature_layer_errors_list_the_layers():
    with pytest.raises(ValueError, match="Layers: "):
        feature_extractor(small_cnn(), layer_name="encoder")


def test_unfitted_detector_says_so():
    with pytest.raises(RuntimeError, match="call fit"):
        MahalanobisOOD().score(np.zeros((2, 4)))


def test_ood_score_model_matches_detector_and_converts_to_litert(lesions):
    from ai_edge_litert.interpreter import Interpreter

    from melanoma_exp.evaluation.ood import ood_score_model
    from melanoma_exp.export.litert import convert_to_litert

    images, labels = lesions
    model = small_cnn()
    features = feature_extractor(model).predict(images, verbose=0)
    non, _ = non_lesion_images(20, 32, seed=2)
    detector = MahalanobisOOD(n_components=8).fit(features[:80], labels[:80])
    detector.fit_threshold(features[80:], feature_extractor(model).predict(non, verbose=0))
    scorer = ood_score_model(model, detector)
    batch = np.concatenate([images[:3], non[:3]])
    expected = detector.score(feature_extractor(model).predict(batch, verbose=0)) ** 2
    np.testing.assert_allclose(scorer.predict(batch, verbose=0).ravel(), expected, rtol=1e-3)

    interpreter = Interpreter(model_content=convert_to_litert(scorer, quantize=False))
    interpreter.allocate_tensors()
    interpreter.set_tensor(interpreter.get_input_details()[0]["index"], batch[:1])
    interpreter.invoke()
    lite = interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).ravel()
    np.testing.assert_allclose(lite, expected[:1], rtol=1e-3)
