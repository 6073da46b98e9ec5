"""The thesis's reported configurations, in one place: recipes and search spaces are checked against
these values, so none can drift silently. Only values the thesis text states are listed here."""

# Table 4.9, the three best models: backbone, batch size, head BN, units, second dense layer,
# dropout1, dropout2 (Adam 1e-3, ReLU, no regularizer, 224 px, ImageNet weights, unit2 256,
# base unfrozen after 10 epochs with lr x 0.1).
TABLE_4_9 = {
    "thesis_efficientnetv2b3": ("efficientnetv2b3", 256, False, 1024, False, 0.0, 0.3),
    "thesis_resnet152v2": ("resnet152v2", 512, False, 1024, True, 0.3, 0.1),
    "thesis_densenet201": ("densenet201", 32, True, 512, False, 0.0, 0.0),
}
SHARED_4_9 = {"optimizer": "adam", "optimizer.learning_rate": 0.001, "head.activation": "relu",
              "head.regularizer": None, "head.units2": 256}
# Winners named elsewhere in the thesis: run 1's activation, DenseNet201's batch in Table 4.8.
OTHER_WINNERS = {"head.activation": ["tanh"], "data.batch_size": [128]}


def winning_values() -> dict[str, set]:
    """Every value the thesis reports as a winner, per searched key."""
    values: dict[str, set] = {}
    for _, batch, bn, units, second, d1, d2 in TABLE_4_9.values():
        for key, value in (("data.batch_size", batch), ("head.batch_norm", bn), ("head.units", units),
                           ("head.second_dense", second), ("head.dropout1", d1), ("head.dropout2", d2)):
            values.setdefault(key, set()).add(value)
    for key, value in SHARED_4_9.items():
        values.setdefault(key, set()).add(value)
    for key, more in OTHER_WINNERS.items():
        values.setdefault(key, set()).update(more)
    return values

# The best run (86.73 % validation accuracy): the top 50 % of the base unfrozen after 15 epochs.
BEST_RUN_UNFREEZE = {"after_epoch": 15, "fraction": 0.5}
