"""Reproduce the paper's table from the authors' released features.

The authors' repository (github.com/keunwoochoi/transfer_learning_music) holds, per
target dataset, the label table (``data_csv/``), the per-layer features and MFCCs
(``data_feats/``) and every published score (``result_transfer/``, one scalar per
file). This module reads them and scores each published cell with the same code as
the workflow's own evaluation (:func:`mirtransfer.evaluate.evaluate`).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mirtransfer.evaluate import AUTHORS_SCALING, evaluate, make_folds
from mirtransfer.files import atomic_path
from mirtransfer.featuresets import parse

REPOSITORY = "https://raw.githubusercontent.com/keunwoochoi/transfer_learning_music/master"

# The published tasks: the dataset whose files they read and the paper's protocol.
TASKS: dict[str, dict[str, Any]] = {
    "ballroom_extended": {"dataset": "ballroom_extended", "target": "label", "kind": "classification", "protocol": "kfold"},
    "gtzan_genre": {"dataset": "gtzan_genre", "target": "label", "kind": "classification", "protocol": "kfold"},
    "gtzan_speechmusic": {"dataset": "gtzan_speechmusic", "target": "label", "kind": "classification", "protocol": "kfold"},
    "emoMusic_a": {"dataset": "emoMusic", "target": "label_arousal", "kind": "regression", "protocol": "kfold"},
    "emoMusic_v": {"dataset": "emoMusic", "target": "label_valence", "kind": "regression", "protocol": "kfold"},
    "jamendo_vd": {"dataset": "jamendo_vd", "target": "label", "kind": "classification", "protocol": "train_test"},
    "urbansound": {"dataset": "urbansound", "target": "label", "kind": "classification", "protocol": "predefined_folds"},
}
TOLERANCE = 1e-3
LAYER5_CAUSE = (
    "layer 5: the authors' script (2_main_knn_svm_transfer.py, load_xy) read the last layer from <dataset>.npy, "
    "a max-pooled output that is not released, instead of the released average-pooled <dataset>_layer_4.npy"
)


def likely_cause(task: str, features: str) -> str:
    """Why a cell beyond the tolerance may differ: a finding from the authors' code, not an adjustment."""
    if any(5 in part.layers for part in parse(features) if part.extractor == "convnet"):
        return LAYER5_CAUSE
    return "differs beyond 1e-3: cause unknown"


_RESULT = re.compile(r"^T_(?P<task>.+)_F_(?P<features>.+)_CL_(?P<estimator>SVC|SVR)\.npy$")


def _feature_name(authors: str) -> str:
    """The authors' feature label (mine_013, mfcc_4, mfcc+12345_4) as a feature-set name."""
    if authors == "mfcc_4":
        return "mfcc"
    if authors == "mfcc+12345_4":
        return "mfcc+convnet:12345"
    if authors.startswith("mine_"):
        return "convnet:" + "".join(str(int(d) + 1) for d in authors[len("mine_"):])
    raise ValueError(f"unknown feature label {authors!r} in the published results")


def published_scores(root: str | Path) -> pd.DataFrame:
    """task, features, estimator, score for every published result file."""
    rows = []
    for path in sorted(Path(root, "result_transfer").glob("*.npy")):
        m = _RESULT.match(path.name)
        if m is None:
            raise ValueError(f"{path}: not a published result file name (T_<task>_F_<features>_CL_<SVC|SVR>.npy)")
        rows.append({"task": m["task"], "features": _feature_name(m["features"]), "estimator": m["estimator"],
                     "score": float(np.load(path))})
    if not rows:
        raise FileNotFoundError(f"no published result in {Path(root, 'result_transfer')}; set reproduction.root or download them")
    return pd.DataFrame(rows)


def feature_matrix(root: str | Path, dataset: str, feature_set: str) -> np.ndarray | None:
    """The authors' features for a feature set (parts concatenated in order), None when a file is absent."""
    blocks = []
    for part in parse(feature_set):
        names = [f"{dataset}_mfcc.npy"] if part.extractor == "mfcc" else [f"{dataset}_layer_{i - 1}.npy" for i in part.layers]
        for name in names:
            path = Path(root, "data_feats", name)
            if not path.exists():
                return None
            blocks.append(np.load(path).astype(np.float64))
    return np.concatenate(blocks, axis=1)


def task_folds(root: str | Path, task: str) -> tuple[np.ndarray, list]:
    """Targets and folds of a published task from the authors' label table."""
    spec = TASKS[task]
    table = pd.read_csv(Path(root, "data_csv", f"{spec['dataset']}.csv"), index_col=0)
    y = table[spec["target"]].to_numpy()
    folds = make_folds(spec["protocol"], spec["kind"], y, n_folds=10,
                       fold=table["fold"].to_numpy() if "fold" in table else None,
                       split=table["category"].to_numpy() if "category" in table else None)
    return y, folds


def reproduce_task(root: str | Path, task: str, n_jobs: int = 1, scaling: tuple[bool, ...] = AUTHORS_SCALING,
                   logger: logging.Logger | None = None) -> pd.DataFrame:
    """task, features, published, reproduced, abs_diff, note for every published cell of a task.

    scaling: the scaler settings searched; by default the authors' effective grid (no scaling).
    Each cell is logged as it is done (the large tasks take minutes per cell).
    """
    log = logger or logging.getLogger("mirtransfer")
    if task not in TASKS:
        raise ValueError(f"unknown published task {task!r}; known: {sorted(TASKS)}")
    published = published_scores(root)
    published = published[published["task"] == task]
    y, folds = task_folds(root, task)
    rows = []
    for features, score in zip(published["features"], published["score"]):
        X = feature_matrix(root, TASKS[task]["dataset"], features)
        if X is None:
            rows.append({"task": task, "features": features, "published": score, "reproduced": np.nan,
                         "abs_diff": np.nan, "note": "features not in the released files"})
            continue
        result = evaluate(X, y, folds, TASKS[task]["kind"], n_jobs=n_jobs, scaling=scaling)
        diff = abs(result["score"] - score)
        note = ""
        if diff > TOLERANCE:
            note = likely_cause(task, features)
        rows.append({"task": task, "features": features, "published": score, "reproduced": result["score"],
                     "abs_diff": diff, "note": note})
        log.info("%s %s: published %.6f, reproduced %.6f (%.1f s, %d of %d fits)", task, features, score,
                 result["score"], result["seconds"], result["fits"]["run"], result["fits"]["grid"])
    return pd.DataFrame(rows)


def summarize(paths: list[str | Path], out: str | Path) -> pd.DataFrame:
    """All tasks' rows; cells beyond the tolerance or not reproducible listed first."""
    df = pd.concat([pd.read_csv(p, keep_default_na=False, na_values=[""]) for p in paths], ignore_index=True)
    df["within_1e-3"] = df["abs_diff"] <= TOLERANCE
    df = df.sort_values(["within_1e-3", "task", "features"], kind="stable")
    with atomic_path(out) as tmp:
        df.to_csv(tmp, index=False)
    return df


def read_checksums(path: str | Path) -> dict[str, str]:
    """relative path -> sha256, from a sha256sum-style file."""
    entries = {}
    for line in Path(path).read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            entries[name.strip()] = digest
    return entries
