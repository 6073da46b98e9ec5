"""The Keras EfficientNet-Lite0 computes what the pinned wheel's checkpoint computes, and knows ImageNet.

Three independent checks of the port (padding, BatchNorm epsilon, layouts, input normalisation):
its logits against a plain-NumPy forward pass read straight from the PyTorch state dict
(`lite0_reference`), its top-5 on real labelled photographs shipped in installed wheels, and the
stem's activations against the checkpoint's own BatchNorm statistics.
"""

from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf
from PIL import Image

from melanoma_exp.models.efficientnet_lite import LITE0_WEIGHTS, EfficientNetLite0
from melanoma_exp.models.pretrained import locate
from melanoma_exp.models.torch_legacy import load_legacy_state_dict

from . import lite0_reference

# What each photograph shows, as ImageNet-1k classes (index: name), written from the photos, not from
# the model's answers; the top-5 must hold one of them. scikit-image's astronaut is left out: its
# subject (a person in a spacesuit) has no ImageNet class.
EXPECTED = {
    "chelsea": {281: "tabby", 282: "tiger cat", 283: "Persian cat", 284: "Siamese cat", 285: "Egyptian cat"},
    "coffee": {967: "espresso", 968: "cup", 504: "coffee mug"},  # a cup of coffee on its saucer
    "rocket": {657: "missile", 744: "projectile", 812: "space shuttle"},  # a rocket on its launch pad
    "camera": {872: "tripod", 759: "reflex camera", 732: "Polaroid camera"},  # a man at a camera on a tripod
    # the Summer Palace's Tower of Buddhist Incense (ImageNet has no pagoda)
    "china": {698: "palace", 663: "monastery", 832: "stupa", 442: "bell cote", 858: "tile roof"},
    "flower": {985: "daisy", 738: "pot (flowerpot)"},  # an orange pompon dahlia; daisy: the composite flower
}


def _photos() -> dict[str, np.ndarray]:
    import skimage.data
    from sklearn.datasets import load_sample_images

    photos = {name: getattr(skimage.data, name)() for name in ("chelsea", "coffee", "rocket", "camera")}
    sample = load_sample_images()
    for filename, image in zip(sample.filenames, sample.images, strict=True):
        photos[filename.rsplit("/", 1)[-1].removesuffix(".jpg")] = image
    return photos


def _square(rgb: np.ndarray, size: int) -> np.ndarray:
    """The centred square of the photo, resized (bicubic) to `size`: float32 RGB 0-255."""
    if rgb.ndim == 2:
        rgb = np.stack([rgb] * 3, axis=-1)
    h, w = rgb.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = Image.fromarray(rgb[top:top + side, left:left + side])
    return np.asarray(crop.resize((size, size), Image.BICUBIC), dtype=np.float32)


def _normalise(images: np.ndarray) -> np.ndarray:
    """The family's own input layers (what `build_model` puts in front of the backbone)."""
    from melanoma_exp.models.build import normalisation_layers

    x = images
    for layer in normalisation_layers("efficientnet_lite"):
        x = layer(x)
    return np.asarray(x, dtype=np.float32)


@pytest.fixture(scope="module")
def state_dict():
    return load_legacy_state_dict(locate(LITE0_WEIGHTS))


@pytest.fixture(scope="module")
def imagenet_model(tmp_path_factory):
    """The full Lite0 (1000-class logits), any input size, weights converted into a private cache."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MELANOMA_CACHE", str(tmp_path_factory.mktemp("melanoma-cache")))
        return EfficientNetLite0(include_top=True, weights="imagenet", input_shape=(None, None, 3),
                                 classifier_activation=None)


@pytest.fixture(scope="module")
def photos():
    return _photos()


def test_the_checkpoint_is_lite0(state_dict):
    assert len(state_dict) == 296
    assert sum(v.size for v in state_dict.values()) == 4_694_073  # incl. 49 num_batches_tracked scalars
    assert state_dict["_fc.weight"].shape == (1000, 1280) and state_dict["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert not any("_se_" in key for key in state_dict)  # Lite: no squeeze-and-excitation


@pytest.mark.parametrize("size", [224, 97])  # 97: odd sizes make "same" padding uneven
def test_logits_match_a_numpy_forward_pass_of_the_checkpoint(imagenet_model, state_dict, photos, size):
    names = ["chelsea", "coffee", "rocket"] if size == 224 else ["china", "flower"]
    x = _normalise(np.stack([_square(photos[n], size) for n in names]))
    keras_logits = np.asarray(imagenet_model.predict(x, verbose=0))
    numpy_logits = lite0_reference.logits(state_dict, x)
    assert keras_logits.shape == numpy_logits.shape == (len(names), 1000)
    assert np.abs(keras_logits - numpy_logits).max() <= 1e-3
    assert np.abs(numpy_logits).max() > 5  # real logits, not a degenerate all-zero agreement


def test_imagenet_top5_on_real_photos(imagenet_model, photos):
    x = _normalise(np.stack([_square(photos[name], 224) for name in EXPECTED]))
    logits = np.asarray(imagenet_model.predict(x, verbose=0))
    for name, row in zip(EXPECTED, logits, strict=True):
        top5 = [int(k) for k in np.argsort(-row)[:5]]
        assert set(top5) & set(EXPECTED[name]), f"{name}: top-5 {top5}, expected one of {EXPECTED[name]}"


def test_the_stem_sees_inputs_scaled_as_in_training(state_dict, photos):
    """The stem's BatchNorm holds the variance its convolution had on ImageNet under the training
    input scaling; the family's normalisation reproduces it on real photos (ImageNet mean/std, the
    B0..B7 convention, gives about 4x: the check tells them apart)."""
    x = np.stack([_square(photo, 224) for photo in photos.values()])
    live = state_dict["_bn0.running_var"] > 0  # a few stem channels are dead (variance 0)
    kernel, trained_variance = state_dict["_conv_stem.weight"][live], state_dict["_bn0.running_var"][live]

    def variance_ratio(normalised):
        return np.median(lite0_reference.conv2d(normalised, kernel, 2).var(axis=(0, 1, 2)) / trained_variance)

    assert 0.5 < variance_ratio(_normalise(x)) < 2.0
    imagenet_mean_std = (x / 255.0 - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    assert variance_ratio(imagenet_mean_std) > 2.0


def test_the_classifier_backbone_carries_the_imagenet_weights_at_any_size(imagenet_model, tmp_path, monkeypatch):
    from melanoma_exp.models.build import build_model
    from melanoma_exp.training.unfreeze import unfreeze_backbone

    monkeypatch.setenv("MELANOMA_CACHE", str(tmp_path))
    head = {"units": 8, "activation": "relu", "batch_norm": False, "dropout1": 0.0, "second_dense": False,
            "units2": 4, "dropout2": 0.0, "regularizer": None, "regularization": 0.0}
    model = build_model(OmegaConf.create({"name": "efficientnet_lite0", "weights": "imagenet"}),
                        OmegaConf.create(head), 64)
    backbone = model.get_layer("backbone")
    assert backbone.output.shape == (None, 2, 2, 1280)
    layers = [layer for layer in backbone.layers if layer.weights]
    assert len(layers) == len([layer for layer in imagenet_model.layers if layer.weights]) - 1  # no classifier
    for layer in layers:
        reference = imagenet_model.get_layer(layer.name).get_weights()
        for mine, theirs in zip(layer.get_weights(), reference, strict=True):
            np.testing.assert_array_equal(mine, theirs)
    # the unfreeze schedule opens the top of the network and keeps every BatchNormalization frozen
    opened = unfreeze_backbone(model, 0.2, keep_bn_frozen=True)
    assert opened > 0
    assert backbone.get_layer("top_conv").trainable and not backbone.get_layer("stem_conv").trainable
    assert not any(layer.trainable for layer in backbone.layers if "bn" in layer.name)
