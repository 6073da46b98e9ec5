"""Grad-CAM on the last convolutional layer of whichever backbone, and marker attention.

The target layer comes from the registry (`BackboneSpec.last_conv_layer`), never from a hard-coded
name at the call site. Marker attention is the share of Grad-CAM mass that falls on marker-sticker
pixels (synthetic masks): a model that learned the marker shortcut (thesis section 3.6.1) scores high.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from melanoma_exp.models.registry import UnknownModelError, get_backbone


def gradcam_parts(model, model_name: str | None):
    """(input -> conv map, conv map -> P(malignant)): the classifier cut at its Grad-CAM layer
    (`gradcam_layer_name`)."""
    layer = gradcam_layer_name(model, model_name)
    if layer.startswith("backbone/"):
        return _split_model(model, layer.removeprefix("backbone/"))
    return _split_chain(model, model.get_layer(layer))


def gradcam_layer_name(model, model_name: str | None) -> str:
    """Where Grad-CAM looks: in a model from `build_model` (a ``backbone`` layer) the registry's
    `BackboneSpec.last_conv_layer` of ``model_name`` (``backbone/<layer>``; the backbone's last
    spatial layer for a name the registry does not know); in a plain chain of layers (the tiny test
    CNN) its last layer with a 4-D output.

    Raises:
        ValueError: the model has no spatial layer to explain (an averaged ensemble of classifiers).
    """
    if "backbone" not in [layer.name for layer in model.layers]:
        return _last_spatial_layer(model).name
    try:
        return f"backbone/{get_backbone(model_name).last_conv_layer}"
    except UnknownModelError:
        return f"backbone/{_last_spatial_layer(model.get_layer('backbone')).name}"


def _last_spatial_layer(model):
    spatial = [layer for layer in model.layers[1:] if len(layer.output.shape) == 4]
    if not spatial:
        raise ValueError(f"model {model.name!r} has no layer with a spatial (B, H, W, C) output to explain")
    return spatial[-1]


def _split_chain(model, target):
    import keras

    to_conv = keras.Model(model.input, target.output)
    after = model.layers[model.layers.index(target) + 1 :]

    def head(conv):
        for layer in after:
            conv = layer(conv, training=False)
        return conv

    return (lambda x: to_conv(x, training=False)), head


def _split_model(model, last_conv_layer: str):
    """(input -> conv map, conv map -> P(malignant)): the classifier cut at the target layer."""
    import keras

    backbone = model.get_layer("backbone")
    index = model.layers.index(backbone)
    before, after = model.layers[1:index], model.layers[index + 1 :]
    conv_tensor = backbone.get_layer(last_conv_layer).output
    to_conv = keras.Model(backbone.input, conv_tensor)
    # the registry's layers are the backbone's last activation; a layer further in is cut out too
    rest = None if conv_tensor is backbone.output else keras.Model(conv_tensor, backbone.output)

    def features(x):
        for layer in before:
            x = layer(x, training=False)
        return to_conv(x, training=False)

    def head(conv):
        h = conv if rest is None else rest(conv, training=False)
        for layer in after:
            h = layer(h, training=False)
        return h

    return features, head


def gradcam_heatmaps(model, images: np.ndarray, model_name: str | None, batch_size: int = 16) -> np.ndarray:
    """Grad-CAM heatmaps for the predicted class, one per image, at the input resolution.

    Runs on the backend Keras runs on: the map and the weighting are `keras.ops`, the gradient of
    the score with respect to the conv map comes from the backend's own autodiff (TensorFlow's
    GradientTape, `jax.grad`).

    Args:
        model: a model from `build_model` (0-255 RGB in, P(malignant) out).
        images: `(N, S, S, 3)` float32 0-255.
        model_name: registry name, which fixes the target layer (None for a plain chain of layers).

    Returns:
        `(N, S, S)` float32 heatmaps in [0, 1] (all zero where the gradient vanishes).
    """
    parts = gradcam_parts(model, model_name)
    chunks = [_gradcam_batch(parts, images[i : i + batch_size]) for i in range(0, len(images), batch_size)]
    return np.concatenate(chunks) if chunks else np.zeros(images.shape[:3], np.float32)


def _score(head, conv):
    """Summed log-probability of each image's predicted class (less saturated than p itself); the
    images are independent in inference mode, so d(sum)/d(conv) holds each image's own gradient."""
    from keras import ops

    p = ops.cast(ops.reshape(head(conv), [-1]), "float32")
    return ops.sum(ops.log(ops.where(p >= 0.5, p, 1.0 - p) + 1e-7))


def conv_gradient(head, conv):
    """d(score)/d(conv map) on the backend Keras runs on (inside a `tf.function` too)."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return jax.grad(lambda c: _score(head, c))(conv)
    import tensorflow as tf

    with tf.GradientTape() as tape:
        tape.watch(conv)  # the backbone may be frozen: watch the map itself
        score = _score(head, conv)
    return tape.gradient(score, conv)


def grid_cam(conv, grads):
    """Grad-CAM at the conv map's own resolution, ``(B, h, w)``, not normalised: the ReLU of the
    channels weighted by their spatially averaged gradient."""
    from keras import ops

    weights = ops.mean(ops.cast(grads, "float32"), axis=(1, 2), keepdims=True)
    return ops.relu(ops.sum(weights * ops.cast(conv, "float32"), axis=-1))


def _gradcam_batch(parts, images: np.ndarray) -> np.ndarray:
    from keras import ops

    features, head = parts
    conv = features(ops.convert_to_tensor(images, dtype="float32"))
    cam = grid_cam(conv, conv_gradient(head, conv))
    cam = ops.image.resize(cam[..., None], images.shape[1:3], interpolation="bilinear")[..., 0]
    peak = ops.max(cam, axis=(1, 2), keepdims=True)
    cam = ops.divide_no_nan(cam, peak)
    return np.asarray(ops.convert_to_numpy(cam), dtype=np.float32)


def marker_attention(heatmaps: np.ndarray, masks: np.ndarray) -> float:
    """Share of the total Grad-CAM mass that lies on marker pixels, over images with a marker.

    Args:
        heatmaps: `(N, S, S)` non-negative.
        masks: `(N, S, S)` booleans (True = marker).

    Returns:
        sum(cam * mask) / sum(cam) over images whose mask is non-empty; NaN when none has a marker.
    """
    has_marker = masks.reshape(len(masks), -1).any(axis=1)
    if not has_marker.any():
        return float("nan")
    cams, marks = heatmaps[has_marker], masks[has_marker].astype(np.float32)
    total = float(cams.sum())
    return float((cams * marks).sum() / total) if total > 0 else 0.0


def marker_area_share(masks: np.ndarray) -> float:
    """Share of pixels that are marker, over images with a marker: what `marker_attention` scores
    for a heatmap spread evenly over each image (so attention / area > 1 means the model looks at
    the markers more than chance). NaN when no image has a marker."""
    has_marker = masks.reshape(len(masks), -1).any(axis=1)
    return float(masks[has_marker].mean()) if has_marker.any() else float("nan")


def load_masks(raw_dir: Path, image_ids, size: int) -> np.ndarray | None:
    """Marker masks (`raw_dir/masks/<id>.png`) cropped and resized like prepare does the images.

    Returns:
        `(N, size, size)` booleans, or None when the raw folder has no masks (real ISIC data).
    """
    from PIL import Image

    folder = Path(raw_dir) / "masks"
    if not folder.is_dir():
        return None
    out = np.zeros((len(image_ids), size, size), dtype=bool)
    for index, image_id in enumerate(image_ids):
        path = folder / f"{image_id}.png"
        if not path.is_file():
            continue
        with Image.open(path) as mask:
            mask = mask.convert("L")
            side = min(mask.size)
            left, top = (mask.width - side) // 2, (mask.height - side) // 2
            mask = mask.crop((left, top, left + side, top + side)).resize((size, size), Image.NEAREST)
            out[index] = np.asarray(mask) > 127
    return out


def pick_grid(y_true, probability, threshold: float, n: int) -> list[int]:
    """Indices for the Grad-CAM grid: round-robin over TP, TN, FP, FN so right and wrong, both
    classes, appear when they exist."""
    y_true = np.asarray(y_true).astype(int)
    y_pred = (np.asarray(probability) >= threshold).astype(int)
    groups = [
        list(np.where((y_true == t) & (y_pred == p))[0]) for t, p in ((1, 1), (0, 0), (0, 1), (1, 0))
    ]
    chosen: list[int] = []
    while len(chosen) < n and any(groups):
        for group in groups:
            if group and len(chosen) < n:
                chosen.append(int(group.pop(0)))
    return chosen


def save_gradcam_grid(images, heatmaps, y_true, probability, path: Path, threshold: float = 0.5) -> Path:
    """A PNG grid: each image with its heatmap overlaid, titled truth / prediction / P(malignant)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(images)
    cols = min(4, max(n, 1))
    rows = max(1, -(-n // cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3 * cols, 3.5 * rows), squeeze=False)
    names = ("benign", "malignant")
    for ax in axes.ravel():
        ax.axis("off")
    for i in range(n):
        ax = axes.ravel()[i]
        ax.imshow(np.clip(images[i], 0, 255).astype(np.uint8))
        ax.imshow(heatmaps[i], cmap="jet", alpha=0.4, vmin=0, vmax=1)
        predicted = names[int(probability[i] >= threshold)]
        mark = "ok" if predicted == names[int(y_true[i])] else "WRONG"
        ax.set_title(f"true {names[int(y_true[i])]} / pred {predicted}\np={probability[i]:.2f} {mark}", fontsize=8)
    fig.text(0.01, 0.005, "Grad-CAM. Research tool, not medical advice.", fontsize=7, color="gray")
    fig.tight_layout(rect=(0, 0.03, 1, 0.97))
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
