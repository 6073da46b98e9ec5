"""Grouped, stratified k-fold assignment for cross-validation.

Several images of one lesion (or one patient) must never sit on both sides of a split, or the model
is graded on photos it has effectively seen. `sklearn.model_selection.StratifiedGroupKFold` keeps
each group in one fold while keeping the benign/malignant ratio similar across folds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold


def assign_folds(
    index: pd.DataFrame,
    folds: int = 5,
    *,
    group_col: str = "group",
    label_col: str = "label",
    seed: int = 0,
) -> pd.Series:
    """Fold number (0..folds-1) for every row of a prepared index.

    Args:
        index: rows with a group column (lesion or patient id) and a 0/1 label column.
        folds: number of folds (>= 2).
        group_col: the grouping column (`index.csv` calls it ``group``).
        label_col: the label column.
        seed: shuffling seed (same seed, same folds).

    Returns:
        An int Series aligned with ``index``, named ``fold``.
    """
    for col in (group_col, label_col):
        if col not in index.columns:
            raise ValueError(f"k-fold needs column {col!r}; the index has {', '.join(map(str, index.columns))}")
    if folds < 2:
        raise ValueError(f"cv.folds must be >= 2, got {folds}")
    groups = index[group_col].astype(str).to_numpy()
    n_groups = len(np.unique(groups))
    if n_groups < folds:
        raise ValueError(f"cv.folds={folds} but only {n_groups} distinct {group_col!r} values")
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    fold = np.full(len(index), -1, dtype=int)
    y = index[label_col].astype(int).to_numpy()
    for k, (_, held_out) in enumerate(splitter.split(np.zeros(len(index)), y, groups)):
        fold[held_out] = k
    return pd.Series(fold, index=index.index, name="fold")


def fold_split(index: pd.DataFrame, fold_ids: pd.Series, fold: int) -> pd.Series:
    """The split column for one CV round: ``val`` for rows in ``fold``, ``train`` otherwise.

    Rows that were ``test`` in the prepared dataset stay ``test`` (the held-out split is never used
    for cross-validation) when the index has a ``split`` column.
    """
    split = pd.Series(np.where(fold_ids.to_numpy() == fold, "val", "train"), index=index.index, name="split")
    if "split" in index.columns:
        split[index["split"] == "test"] = "test"
    return split


def summarize_folds(fold_metrics: list[dict]) -> dict:
    """Mean and sample standard deviation of every numeric metric over folds.

    Returns:
        ``{name: {"mean": .., "std": .., "n": ..}}`` — the parent run logs ``name/mean`` and
        ``name/std``; a sweep's objective is the ``mean`` of its monitored metric.
    """
    frame = pd.DataFrame(fold_metrics)
    numeric = frame.select_dtypes("number")
    return {
        name: {"mean": float(col.mean()), "std": float(col.std(ddof=1)) if col.count() > 1 else 0.0,
               "n": int(col.count())}
        for name, col in numeric.items()
    }
