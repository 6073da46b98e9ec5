"""EfficientNet-Lite0's forward pass in plain NumPy, straight from the PyTorch state dict.

Independent of the Keras port: it reads the checkpoint's own names and layouts (kernels ``(out, in,
kh, kw)``), takes the block layout from the tensors' shapes and computes every convolution with an
explicit im2col. Conventions of the TensorFlow original: "same" padding (the extra row/column of
an uneven pad goes after), BatchNormalization epsilon 1e-3, ReLU6, a residual add when a block keeps
its shape.
"""

from __future__ import annotations

import numpy as np

EPSILON = 1e-3


def _pad_same(x: np.ndarray, kernel: int, stride: int) -> np.ndarray:
    """Zero-pad (N, H, W, C) as TensorFlow's padding="same" does."""
    pads = []
    for size in x.shape[1:3]:
        out = -(-size // stride)
        total = max((out - 1) * stride + kernel - size, 0)
        pads.append((total // 2, total - total // 2))
    return np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))


def _patches(x: np.ndarray, kernel: int, stride: int) -> np.ndarray:
    """im2col: (N, Ho, Wo, C, kernel, kernel) windows of the padded input."""
    windows = np.lib.stride_tricks.sliding_window_view(_pad_same(x, kernel, stride), (kernel, kernel), axis=(1, 2))
    return windows[:, ::stride, ::stride]


def conv2d(x: np.ndarray, weight: np.ndarray, stride: int = 1) -> np.ndarray:
    """Full convolution; `weight` is PyTorch's (out, in, k, k)."""
    return np.einsum("nhwcij,ocij->nhwo", _patches(x, weight.shape[-1], stride), weight, optimize=True)


def depthwise_conv2d(x: np.ndarray, weight: np.ndarray, stride: int = 1) -> np.ndarray:
    """One filter per channel; `weight` is PyTorch's (C, 1, k, k)."""
    return np.einsum("nhwcij,cij->nhwc", _patches(x, weight.shape[-1], stride), weight[:, 0], optimize=True)


def batch_norm(x: np.ndarray, sd: dict, name: str) -> np.ndarray:
    scale = sd[f"{name}.weight"] / np.sqrt(sd[f"{name}.running_var"] + EPSILON)
    return (x - sd[f"{name}.running_mean"]) * scale + sd[f"{name}.bias"]


def relu6(x: np.ndarray) -> np.ndarray:
    return np.clip(x, 0.0, 6.0)


# EfficientNet-B0's strides per block (the kernels and widths come from the tensors).
STRIDES = [1, 2, 1, 2, 1, 2, 1, 1, 1, 1, 1, 2, 1, 1, 1, 1]


def logits(sd: dict[str, np.ndarray], images: np.ndarray) -> np.ndarray:
    """ImageNet logits (N, 1000) of normalised NHWC float images."""
    x = relu6(batch_norm(conv2d(images.astype(np.float64), sd["_conv_stem.weight"], 2), sd, "_bn0"))
    for i, stride in enumerate(STRIDES):
        block, inputs = f"_blocks.{i}.", x
        if f"{block}_expand_conv.weight" in sd:
            x = relu6(batch_norm(conv2d(x, sd[f"{block}_expand_conv.weight"]), sd, f"{block}_bn0"))
        x = relu6(batch_norm(depthwise_conv2d(x, sd[f"{block}_depthwise_conv.weight"], stride), sd, f"{block}_bn1"))
        x = batch_norm(conv2d(x, sd[f"{block}_project_conv.weight"]), sd, f"{block}_bn2")
        if stride == 1 and x.shape == inputs.shape:
            x = x + inputs
    x = relu6(batch_norm(conv2d(x, sd["_conv_head.weight"]), sd, "_bn1"))
    return x.mean(axis=(1, 2)) @ sd["_fc.weight"].T + sd["_fc.bias"]
