"""Grouped stratified k-fold: folds never share a group and keep the class balance."""

import numpy as np
import pandas as pd
import pytest

from melanoma_exp.data.kfold import assign_folds, fold_split, summarize_folds


def index_with_groups(n_groups=60, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for g in range(n_groups):
        label = int(rng.random() < 0.4)
        for _ in range(rng.integers(1, 5)):  # several images per lesion
            rows.append({"isic_id": f"ISIC_{len(rows):07d}", "group": f"IL_{g:04d}", "label": label,
                         "split": rng.choice(["train", "val", "test"], p=[0.7, 0.1, 0.2])})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("folds", [2, 5])
def test_folds_never_share_a_group(folds):
    index = index_with_groups()
    fold = assign_folds(index, folds, seed=3)
    assert sorted(fold.unique()) == list(range(folds))
    assert (index.assign(fold=fold).groupby("group")["fold"].nunique() == 1).all()
    # stratified: every fold has both classes, malignant share close to the overall one
    overall = index["label"].mean()
    for k in range(folds):
        share = index.loc[fold == k, "label"].mean()
        assert abs(share - overall) < 0.15


def test_same_seed_same_folds_other_seed_other_folds():
    index = index_with_groups()
    a, b, c = assign_folds(index, 5, seed=1), assign_folds(index, 5, seed=1), assign_folds(index, 5, seed=2)
    assert a.equals(b) and not a.equals(c)


def test_fold_split_keeps_test_rows_out():
    index = index_with_groups()
    fold = assign_folds(index, 4)
    split = fold_split(index, fold, 1)
    assert (split[index["split"] == "test"] == "test").all()
    val = split == "val"
    assert (fold[val] == 1).all()
    assert set(index.loc[val, "group"]).isdisjoint(index.loc[split == "train", "group"])


def test_summarize_folds_matches_pandas():
    metrics = [{"val/auc": 0.8, "val/accuracy": 0.7}, {"val/auc": 0.9, "val/accuracy": 0.75},
               {"val/auc": 0.85, "val/accuracy": 0.8}]
    summary = summarize_folds(metrics)
    assert summary["val/auc"]["mean"] == pytest.approx(0.85)
    assert summary["val/auc"]["std"] == pytest.approx(pd.Series([0.8, 0.9, 0.85]).std())
    assert summary["val/accuracy"]["n"] == 3


def test_errors_name_the_key():
    index = index_with_groups(n_groups=3)
    with pytest.raises(ValueError, match="cv.folds=5 but only 3 distinct 'group'"):
        assign_folds(index, 5)
    with pytest.raises(ValueError, match="'patient_id'"):
        assign_folds(index, 2, group_col="patient_id")
