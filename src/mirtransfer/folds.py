"""The folds of a task's protocol: which clips each fit trains on and which it is scored on.

Protocols: ``kfold`` (k folds without shuffling, stratified for classification, in
manifest order), ``predefined_folds`` (the manifest's fold column) and ``train_test``
(its split column). Checked from the config alone (:func:`task_problems`, before any job
runs) and against each dataset's manifest (:func:`mirtransfer.manifest.check_tasks`,
before any spectrogram), so a task that cannot be scored stops the run early.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import KFold, StratifiedKFold

from mirtransfer.errors import TaskError

Fold = tuple[np.ndarray, np.ndarray]


def make_folds(
    protocol: str,
    kind: str,
    y: np.ndarray,
    *,
    n_folds: int = 10,
    fold: np.ndarray | None = None,
    split: np.ndarray | None = None,
    train_splits: tuple[str, ...] = ("train", "valid"),
    test_splits: tuple[str, ...] = ("test",),
    setting: str = "the task's n_folds",
) -> list[Fold]:
    """(train indices, test indices) per fold, in a fixed order.

    setting: where n_folds comes from, named in the error when there are too few clips.
    Every fit must be possible: a classification fold trains on two classes or more, a
    regression fold is scored on two clips or more (R²).
    """
    folds = _folds(protocol, kind, y, n_folds=n_folds, fold=fold, split=split, train_splits=train_splits,
                   test_splits=test_splits, setting=setting)
    names = [f"fold {v}" for v in np.unique(fold)] if protocol == "predefined_folds" else (
        ["the train/test split"] if protocol == "train_test" else [f"fold {k}" for k in range(1, len(folds) + 1)])
    for name, (train, test) in zip(names, folds):
        if kind == "classification" and len(np.unique(y[train])) < 2:
            raise TaskError(f"{name} trains on one class only ({str(y[train][0])!r}); a classifier needs two or more: "
                            "add clips of other classes to its training clips, or change the protocol")
        if kind == "regression" and len(test) < 2:
            raise TaskError(f"{name} is scored on {len(test)} clip; R² needs two or more: change the folds or splits")
    return folds


def _folds(
    protocol: str,
    kind: str,
    y: np.ndarray,
    *,
    n_folds: int,
    fold: np.ndarray | None,
    split: np.ndarray | None,
    train_splits: tuple[str, ...],
    test_splits: tuple[str, ...],
    setting: str,
) -> list[Fold]:
    if protocol == "kfold":
        if kind == "classification":
            classes, counts = np.unique(y, return_counts=True)
            if counts.min() < n_folds:
                raise TaskError(f"class {str(classes[np.argmin(counts)])!r} has {int(counts.min())} clips, fewer than "
                                f"{n_folds} folds; lower {setting} or add clips")
        elif len(y) < n_folds:
            raise TaskError(f"{len(y)} clips are fewer than {n_folds} folds; lower {setting} or add clips")
        splitter = StratifiedKFold(n_folds, shuffle=False) if kind == "classification" else KFold(n_folds, shuffle=False)
        return [(tr, te) for tr, te in splitter.split(np.zeros(len(y)), y)]
    if protocol == "predefined_folds":
        if fold is None or pd.isna(fold).any():
            raise TaskError("protocol predefined_folds needs a fold for every clip (the manifest's 'fold' column)")
        values = np.unique(fold)
        if len(values) < 2:
            raise TaskError(f"protocol predefined_folds needs at least two folds, found {values.tolist()}")
        return [(np.nonzero(fold != v)[0], np.nonzero(fold == v)[0]) for v in values]
    if protocol == "train_test":
        if split is None:
            raise TaskError("protocol train_test needs the manifest's 'split' column")
        if both := sorted(set(train_splits) & set(test_splits)):
            raise TaskError(f"protocol train_test: splits {both} would be trained on and tested on; "
                            "keep train_splits apart from test_splits and valid_splits")
        train = np.nonzero(np.isin(split, train_splits))[0]
        test = np.nonzero(np.isin(split, test_splits))[0]
        if not len(train) or not len(test):
            raise TaskError(f"protocol train_test: no clip in splits {train_splits} or {test_splits}; found {sorted(set(map(str, split)))}")
        return [(train, test)]
    raise TaskError(f"unknown protocol {protocol!r}; use kfold, predefined_folds or train_test")


def task_problems(name: str, task: dict[str, Any]) -> list[str]:
    """What is wrong with a task's protocol settings, found from the config alone (checked before any job runs)."""
    problems = []
    valid = task.get("valid_splits") or []
    if valid and task["protocol"] != "train_test":
        problems.append(f"tasks.{name}.valid_splits goes with protocol train_test, not {task['protocol']!r}")
    if task["protocol"] == "train_test":
        for key in ("test_splits", "valid_splits"):
            if both := sorted(set(task["train_splits"]) & set(task.get(key) or [])):
                problems.append(f"tasks.{name}: splits {both} are in train_splits and in {key}, so the clips "
                                f"scored would be trained on; remove them from train_splits (default [train, valid])")
        if both := sorted(set(valid) & set(task["test_splits"])):
            problems.append(f"tasks.{name}: splits {both} are in valid_splits and in test_splits, so the "
                            "hyper-parameters would be selected on the clips reported; keep them apart")
    return problems


def task_targets(name: str, task: dict[str, Any], values: pd.Series) -> np.ndarray:
    """A task's targets: floats for regression (refused, naming a clip, where a value is not a number), else strings."""
    if task["kind"] != "regression":
        return values.astype(str).to_numpy()
    numbers = pd.to_numeric(values, errors="coerce")
    if numbers.isna().any():
        first = numbers.index[numbers.isna()][0]
        raise TaskError(f"tasks.{name}: kind regression needs a number in {task['target']!r} for every clip; clip "
                        f"{first!r} has {values[first]!r}; fix the value or use kind classification")
    return numbers.to_numpy(np.float64)


def task_folds(name: str, task: dict[str, Any], y: np.ndarray, rows: pd.DataFrame) -> tuple[list[Fold], Fold | None]:
    """A task's folds and, with valid_splits, the split its hyper-parameters are selected on.

    task: the config's tasks.<name>, its defaults filled by the schema; rows: the manifest
    rows of y's clips, in y's order (their fold and split columns).
    """
    if problems := task_problems(name, task):
        raise TaskError("; ".join(problems))
    splits = {"fold": rows["fold"].to_numpy(), "split": rows["split"].to_numpy(),
              "train_splits": tuple(task["train_splits"])}
    try:
        folds = make_folds(task["protocol"], task["kind"], y, n_folds=task["n_folds"],
                           test_splits=tuple(task["test_splits"]), setting="n_folds", **splits)
        selection = None
        if task.get("valid_splits"):
            (selection,) = make_folds("train_test", task["kind"], y, test_splits=tuple(task["valid_splits"]), **splits)
    except TaskError as err:
        raise TaskError(f"tasks.{name}: {err}") from None
    return folds, selection
