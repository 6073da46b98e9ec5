"""The classification head on top of the backbone's last feature map (config group `head/`).

Layer order (contract 6), with the exact place of each dropout::

    backbone features
      -> GlobalAveragePooling2D                 (head_pool)
      -> BatchNormalization     if batch_norm   (head_bn)
      -> Dense(units, activation, regularizer)  (head_dense1)     } only if units (null: no hidden
      -> Dropout(dropout1)      if dropout1 > 0 (head_dropout1)   }  layer, the thesis's first model)
      -> Dense(units2, activation, regularizer) (head_dense2)     } only if second_dense
      -> Dropout(dropout2)      if dropout2 > 0 (head_dropout2)   } <- after the second dense layer
      -> Dense(1, sigmoid, float32)             (prediction)      P(malignant)

There is no dropout between pooling and the first dense layer. The prediction layer is float32 even
under mixed precision so the probability (and the loss) is not computed in float16.
"""

from __future__ import annotations

from typing import Any

REGULARIZERS = (None, "l1", "l2")


def make_regularizer(kind: str | None, strength: float):
    """Return a Keras regularizer for `head.regularizer` (`None`, ``l1`` or ``l2``)."""
    import keras

    if kind is None:
        return None
    if kind == "l1":
        return keras.regularizers.L1(strength)
    if kind == "l2":
        return keras.regularizers.L2(strength)
    raise ValueError(f"head.regularizer must be one of null, l1, l2; got {kind!r}")


def head_layers(head_cfg: Any) -> list:
    """Build the head as an ordered list of Keras layers (see the module docstring).

    Args:
        head_cfg: the `head` config node (units, activation, batch_norm, dropout1, second_dense,
            units2, dropout2, regularizer, regularization).

    Returns:
        Layers to apply in order to the backbone's feature map.
    """
    import keras

    reg = head_cfg.regularizer
    strength = float(head_cfg.regularization)
    layers = [keras.layers.GlobalAveragePooling2D(name="head_pool")]
    if head_cfg.batch_norm:
        layers.append(keras.layers.BatchNormalization(name="head_bn"))

    def dense_block(units, dropout, index: int) -> list:
        """Dense(units) then, when dropout > 0, Dropout right after it (names fixed: saved models)."""
        block = [keras.layers.Dense(int(units), activation=head_cfg.activation,
                                    kernel_regularizer=make_regularizer(reg, strength),
                                    name=f"head_dense{index}")]
        if float(dropout) > 0:
            block.append(keras.layers.Dropout(float(dropout), name=f"head_dropout{index}"))
        return block

    if head_cfg.units:
        layers += dense_block(head_cfg.units, head_cfg.dropout1, 1)
    if head_cfg.second_dense:
        layers += dense_block(head_cfg.units2, head_cfg.dropout2, 2)
    layers.append(keras.layers.Dense(1, activation="sigmoid", dtype="float32", name="prediction"))
    return layers
