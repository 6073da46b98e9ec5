"""Grouped, stratified train/val/test splits and thesis-style undersampling.

The thesis split images at random, so images of one lesion (and lesions of one patient) landed in
both train and test: the test score measured memory, not generalisation. Here every image belongs to
a group and whole groups go to one split. Groups are the connected components of the fallback chain
of id columns: with `group_by: lesion_id`, rows sharing a lesion_id *or* a patient_id are one group
(a row with neither is its own group, keyed by isic_id), so no lesion and no patient crosses splits.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

# group_by -> the id columns that tie rows together (isic_id alone = per-image random split).
GROUP_CHAINS = {
    "lesion_id": ("lesion_id", "patient_id"),
    "patient_id": ("patient_id",),
    "isic_id": (),
}
SPLITS = ("train", "val", "test")


class SplitError(ValueError):
    """The split settings do not fit the data; the message names the setting."""


def split_fractions(val: float, test: float) -> dict[str, float]:
    """Validate `data.split.val` / `data.split.test`; returns all three fractions."""
    for name, value in (("val", val), ("test", test)):
        if not 0 < value < 1:
            raise SplitError(f"data.split.{name} must be between 0 and 1 (exclusive), got {value}")
    if val + test >= 1:
        raise SplitError(
            f"data.split.val + data.split.test = {val + test:.2f} leaves nothing to train on "
            "(must be < 1)"
        )
    return {"train": 1 - val - test, "val": val, "test": test}


def assign_groups(frame: pd.DataFrame, group_by: str) -> pd.Series:
    """Group name per row: connected components over the `group_by` fallback chain (union-find)."""
    if group_by not in GROUP_CHAINS:
        raise SplitError(f"Unknown data.split.group_by {group_by!r}. Known: {', '.join(GROUP_CHAINS)}")
    chain = [c for c in GROUP_CHAINS[group_by] if c in frame.columns]
    parent = list(range(len(frame)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for column in chain:
        first: dict[str, int] = {}
        for i, value in enumerate(frame[column].fillna("").astype(str)):
            if value:
                j = first.setdefault(value, i)
                parent[find(i)] = find(j)
    roots = [find(i) for i in range(len(frame))]
    # Name each component by its broadest id: patient, else lesion, else image.
    names: dict[int, str] = {}
    for column in [*reversed(chain), "isic_id"]:
        for i, value in enumerate(frame[column].fillna("").astype(str)):
            if value and roots[i] not in names:
                names[roots[i]] = f"{column}:{value}"
    return pd.Series([names[r] for r in roots], index=frame.index, name="group")


def grouping_summary(frame: pd.DataFrame, group_by: str) -> dict:
    """What the split could be grouped by: the id columns of the `group_by` chain that hold values.

    A source without lesion or patient ids (e.g. the ISIC UDA-1 sample) is split per image: images of
    one lesion could sit in two splits, so its test score may flatter the model. The manifest and
    every report carry this note.
    """
    present = [c for c in GROUP_CHAINS[group_by]
               if c in frame.columns and frame[c].fillna("").astype(str).str.len().gt(0).any()]
    grouped = bool(present)
    if group_by == "isic_id":
        note = "split per image on purpose (data.split.group_by=isic_id): images of one lesion may share splits"
    elif present:
        note = f"grouped by {' + '.join(present)}: no lesion or patient in two splits"
    else:
        note = (f"could not be grouped: the metadata has no {' or '.join(GROUP_CHAINS[group_by])} values, "
                "so the split is stratified per image and images of one lesion may sit in two splits")
    return {"group_by": group_by, "columns": present, "grouped": grouped, "note": note}


def grouped_stratified_split(
    labels: np.ndarray, groups: np.ndarray, fractions: dict[str, float], seed: int
) -> np.ndarray:
    """Assign whole groups to splits so each split's class counts approach its fraction.

    Greedy: groups in random order, biggest first, each to the split with the largest remaining
    quota (target minus assigned images) for that group's classes.

    Returns:
        Array of split names, one per row.
    """
    frame = pd.DataFrame({"label": labels, "group": groups})
    counts = frame.groupby("group")["label"].agg(pos="sum", size="count")
    counts["neg"] = counts["size"] - counts["pos"]
    rng = np.random.default_rng(seed)
    counts = counts.iloc[rng.permutation(len(counts))]
    counts = counts.sort_values("size", ascending=False, kind="stable")
    totals = np.array([counts["neg"].sum(), counts["pos"].sum()], dtype=float)
    target = np.array([[fractions[s] * t for t in totals] for s in SPLITS])
    filled = np.zeros_like(target)
    chosen: dict[str, str] = {}
    for name, neg, pos in zip(counts.index, counts["neg"], counts["pos"], strict=True):
        need = np.array([neg, pos], dtype=float)
        score = ((target - filled) * need).sum(axis=1)
        best = int(np.argmax(score))
        filled[best] += need
        chosen[name] = SPLITS[best]
    return frame["group"].map(chosen).to_numpy()


def undersample(labels: np.ndarray, benign_fraction: float, seed: int) -> np.ndarray:
    """Boolean keep-mask dropping random benign rows until benign is `benign_fraction` of the rest.

    Malignant rows are never dropped (missing a melanoma costs more than a false alarm). When
    benign is already at or below the target nothing is dropped.
    """
    if not 0 < benign_fraction < 1:
        raise SplitError(f"data.benign_fraction must be between 0 and 1, got {benign_fraction}")
    keep = np.ones(len(labels), dtype=bool)
    benign = np.flatnonzero(labels == 0)
    n_malignant = int((labels == 1).sum())
    target = int(round(n_malignant * benign_fraction / (1 - benign_fraction)))
    if len(benign) > target:
        rng = np.random.default_rng(seed)
        keep[rng.choice(benign, len(benign) - target, replace=False)] = False
    return keep
