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
from sklearn.model_selection import KFold

from mirtransfer.datasets import AUTHORS_TABLES, EXPECTED_CLIPS
from mirtransfer.evaluate import AUTHORS_SCALING, evaluate
from mirtransfer.folds import Fold, make_folds
from mirtransfer.files import atomic_path
from mirtransfer.featuresets import parse

# The published tasks: the authors' table whose files they read (data_csv/<dataset>.csv) and the paper's protocol.
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
N_FOLDS = 10  # the paper's k for every kfold task
LAYER5_CAUSE = (
    "layer 5: the authors' script (2_main_knn_svm_transfer.py, load_xy) read the last layer from <dataset>.npy, "
    "which is not released, instead of the released <dataset>_layer_4.npy; for ballroom_extended, gtzan_genre "
    "and gtzan_speechmusic the released file gives the published scores, so the two may differ for some datasets only"
)


def cell_memory_mb(task: str, threads: int) -> int:
    """Memory a cell needs, in MB: the kernel matrices grow with the square of the clips.

    Two base matrices of all clips, and per thread a fold's two base matrices and one
    kernel (each at most clips x clips float64), plus libsvm's cache and the interpreter.
    Measured: urbansound convnet:12345 with one thread peaked at 3.9 GB (estimate 4.1).
    """
    table_type = {table: kind for kind, table in AUTHORS_TABLES.items()}[TASKS[task]["dataset"]]
    square_mb = 8 * EXPECTED_CLIPS[table_type] ** 2 / 2**20
    return int(square_mb * (2 + 3 * threads) + 200 * threads + 1000)


def likely_cause(task: str, features: str) -> str:
    """Why a cell beyond the tolerance may differ: a finding from the authors' code, not an adjustment."""
    if any(5 in part.layers for part in parse(features) if part.extractor == "convnet"):
        return LAYER5_CAUSE
    return "differs beyond 1e-3: cause unknown"


_RESULT = re.compile(r"^T_(?P<task>.+)_F_(?P<features>.+)_CL_(?P<estimator>SVC|SVR)\.npy$")


# The authors' labels of their MFCC feature sets (the rest are mine_<0-based layers>).
_SPECIAL_LABELS = {"mfcc_4": "mfcc", "mfcc+12345_4": "mfcc+convnet:12345"}


def _feature_name(authors: str) -> str:
    """The authors' feature label (mine_013, mfcc_4, mfcc+12345_4) as a feature-set name."""
    if authors in _SPECIAL_LABELS:
        return _SPECIAL_LABELS[authors]
    if authors.startswith("mine_"):
        return "convnet:" + "".join(str(int(d) + 1) for d in authors[len("mine_"):])
    raise ValueError(f"unknown feature label {authors!r} in the published results")


def _authors_label(features: str) -> str:
    """A feature-set name as the authors' feature label (the inverse of ``_feature_name``)."""
    for label, name in _SPECIAL_LABELS.items():
        if features == name:
            return label
    part, = parse(features)
    if part.extractor != "convnet":
        raise ValueError(f"{features!r} is not a published feature set (convnet:<layers>, mfcc, mfcc+convnet:12345)")
    return "mine_" + "".join(str(layer - 1) for layer in part.layers)


def published_name(feature_set: str, extractor: str) -> str | None:
    """The published name of one of the workflow's feature sets when ``extractor`` stands for the
    authors' convnet: ``<extractor>:135`` is ``convnet:135``, ``mfcc+<extractor>:12345`` is
    ``mfcc+convnet:12345``, ``mfcc`` is ``mfcc``; None for sets of other extractors."""
    names = []
    for part in parse(feature_set):
        if part.extractor == "mfcc" and not part.layers:
            names.append("mfcc")
        elif part.extractor == extractor and part.layers:
            names.append("convnet:" + "".join(map(str, part.layers)))
        else:
            return None
    return "+".join(names)


def result_file(task: str, features: str) -> str:
    """The published score's file, relative to the artefacts' root."""
    estimator = "SVC" if TASKS[task]["kind"] == "classification" else "SVR"
    return f"result_transfer/T_{task}_F_{_authors_label(features)}_CL_{estimator}.npy"


def published_cells(names: list[str]) -> dict[str, list[str]]:
    """task -> feature sets with a published score, from the artefacts' relative file names."""
    cells: dict[str, list[str]] = {}
    for name in sorted(names):
        m = _RESULT.match(Path(name).name)
        if name.startswith("result_transfer/") and m is not None:
            cells.setdefault(m["task"], []).append(_feature_name(m["features"]))
    return cells


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


def feature_files(task: str, feature_set: str) -> list[str]:
    """The authors' feature files of a feature set, relative to the root, parts in order."""
    dataset = TASKS[task]["dataset"]
    names = []
    for part in parse(feature_set):
        names += ([f"{dataset}_mfcc.npy"] if part.extractor == "mfcc"
                  else [f"{dataset}_layer_{i - 1}.npy" for i in part.layers])
    return [f"data_feats/{name}" for name in names]


def cell_files(task: str, features: str) -> list[str]:
    """Every file a cell reads, relative to the root: labels, published score, features."""
    return [f"data_csv/{TASKS[task]['dataset']}.csv", result_file(task, features), *feature_files(task, features)]


def feature_matrix(root: str | Path, task: str, feature_set: str) -> np.ndarray | None:
    """The authors' features for a feature set (parts concatenated in order), None when a file is absent."""
    paths = [Path(root, name) for name in feature_files(task, feature_set)]
    if not all(path.exists() for path in paths):
        return None
    return np.concatenate([np.load(path).astype(np.float64) for path in paths], axis=1)


def legacy_stratified_folds(y: np.ndarray, n_folds: int) -> list[Fold]:
    """Stratified folds as scikit-learn built them before 0.22 (the authors ran 0.19 in 2017).

    Each class's clips, in order, are cut by KFold into n_folds contiguous chunks (the
    first ``count % n_folds`` one clip larger), and fold i joins the i-th chunk of every
    class. Today's StratifiedKFold spreads the remainders differently, so the folds
    differ wherever a class's count is not a multiple of n_folds (ballroom_extended,
    gtzan_speechmusic); with equal multiples (gtzan_genre) they are the same.
    """
    test_fold = np.empty(len(y), dtype=int)
    for label in np.unique(y):
        members = np.flatnonzero(y == label)
        if len(members) < n_folds:
            raise ValueError(f"class {str(label)!r} has {len(members)} clips, fewer than n_folds={n_folds}")
        for f, (_, chunk) in enumerate(KFold(n_folds).split(members)):
            test_fold[members[chunk]] = f
    return [(np.flatnonzero(test_fold != f), np.flatnonzero(test_fold == f)) for f in range(n_folds)]


def task_folds(root: str | Path, task: str, legacy: bool = True) -> tuple[np.ndarray, list[Fold]]:
    """Targets and folds of a published task from the authors' label table, under the authors' protocol.

    legacy: stratified k folds as the authors' scikit-learn built them (``legacy_stratified_folds``);
    False gives today's, as the workflow's own evaluation makes them.
    """
    spec = TASKS[task]
    table = pd.read_csv(Path(root, "data_csv", f"{spec['dataset']}.csv"), index_col=0)
    y = table[spec["target"]].to_numpy()
    if legacy and spec["protocol"] == "kfold" and spec["kind"] == "classification":
        return y, legacy_stratified_folds(y, N_FOLDS)
    folds = make_folds(spec["protocol"], spec["kind"], y, n_folds=N_FOLDS,
                       fold=table["fold"].to_numpy() if "fold" in table else None,
                       split=table["category"].to_numpy() if "category" in table else None)
    return y, folds


def reproduce_cell(root: str | Path, task: str, features: str, n_jobs: int = 1,
                   scaling: tuple[bool, ...] = AUTHORS_SCALING) -> dict[str, Any]:
    """One published cell re-scored: task, features, published, reproduced, abs_diff, note, and the evaluation.

    scaling: the scaler settings searched; by default the authors' effective grid (no scaling).
    reproduced is None when the released files lack a feature the cell needs.
    """
    if task not in TASKS:
        raise ValueError(f"unknown published task {task!r}; known: {sorted(TASKS)}")
    published_path = Path(root, result_file(task, features))
    if not published_path.exists():
        raise FileNotFoundError(f"{published_path}: no published score for {task} {features}; "
                                "check reproduction.root and the feature-set name")
    cell: dict[str, Any] = {"task": task, "features": features, "published": float(np.load(published_path))}
    X = feature_matrix(root, task, features)
    if X is None:
        return {**cell, "reproduced": None, "abs_diff": None, "note": "features not in the released files"}
    y, folds = task_folds(root, task)
    # bounded=False: libsvm runs every fit to its end, as in the authors' grid search
    result = evaluate(X, y, folds, TASKS[task]["kind"], n_jobs=n_jobs, scaling=scaling, bounded=False)
    diff = abs(result["score"] - cell["published"])
    return {**cell, "reproduced": result["score"], "abs_diff": diff,
            "note": likely_cause(task, features) if diff > TOLERANCE else "", "evaluation": result}


def cell_message(cell: dict[str, Any]) -> str:
    """One log line for a re-scored cell."""
    if cell["reproduced"] is None:
        return f"{cell['task']} {cell['features']}: published {cell['published']:.6f}, {cell['note']}"
    fits = cell["evaluation"]["fits"]
    return (f"{cell['task']} {cell['features']}: published {cell['published']:.6f}, reproduced "
            f"{cell['reproduced']:.6f} ({cell['evaluation']['seconds']:.1f} s, {fits['run']} of {fits['grid']} fits)")


def task_table(cells: list[dict[str, Any]]) -> pd.DataFrame:
    """A task's table (task, features, published, reproduced, abs_diff, note) from its cells."""
    columns = ["task", "features", "published", "reproduced", "abs_diff", "note"]
    return pd.DataFrame([{c: cell[c] for c in columns} for cell in cells], columns=columns).astype(
        {"reproduced": float, "abs_diff": float})


def reproduce_task(root: str | Path, task: str, n_jobs: int = 1, scaling: tuple[bool, ...] = AUTHORS_SCALING,
                   logger: logging.Logger | None = None) -> pd.DataFrame:
    """Every published cell of a task, one after the other (the workflow runs one job per cell instead)."""
    log = logger or logging.getLogger("mirtransfer")
    if task not in TASKS:  # before reading: an unknown task would otherwise give an empty table
        raise ValueError(f"unknown published task {task!r}; known: {sorted(TASKS)}")
    published = published_scores(root)
    cells = []
    for features in published.loc[published["task"] == task, "features"]:
        cells.append(reproduce_cell(root, task, features, n_jobs, scaling))
        log.info(cell_message(cells[-1]))
    return task_table(cells)


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


def _nearest_is_self(ours: np.ndarray, authors: np.ndarray, rows: np.ndarray, chunk: int = 1024) -> float:
    """Share of our clips whose nearest authors' row (Euclidean) is the clip's own row."""
    hits = 0
    squared = (authors**2).sum(axis=1)
    for start in range(0, len(ours), chunk):
        block = ours[start : start + chunk]
        distances = squared[None, :] - 2.0 * block @ authors.T  # + |block|^2, the same for every row
        hits += int((distances.argmin(axis=1) == rows[start : start + chunk]).sum())
    return hits / max(len(ours), 1)


def compare_features(
    ours: list[pd.DataFrame], authors: list[np.ndarray], authors_ids: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per layer, the workflow's features against the authors' released ones for the same clips.

    ours: the five layer tables (clip_id and 32 values); authors: the five (rows, 32) arrays of
    data_feats, rows in the order of ``authors_ids`` (the manifest clip ids of their table).
    Returns the per-layer table (clips matched, Pearson r over all values, median over clips of
    the relative error |ours - theirs| / |theirs|, share of clips whose nearest authors' row is
    their own) and the unmatched clips (clip_id, where: workflow only / authors only).
    """
    position = {clip: k for k, clip in enumerate(authors_ids)}
    ids = ours[0]["clip_id"].tolist()
    matched = [clip for clip in ids if clip in position]
    rows = np.array([position[clip] for clip in matched], dtype=np.int64)
    layers = []
    for layer, (table, theirs) in enumerate(zip(ours, authors), start=1):
        if len(theirs) != len(authors_ids):
            raise ValueError(f"layer {layer}: the authors' features have {len(theirs)} rows, their table {len(authors_ids)}")
        a = table.set_index("clip_id").loc[matched].to_numpy(dtype=np.float64)
        b = theirs[rows].astype(np.float64)
        r = float(np.corrcoef(a.ravel(), b.ravel())[0, 1]) if len(matched) > 1 else float("nan")
        relative = np.linalg.norm(a - b, axis=1) / np.maximum(np.linalg.norm(b, axis=1), 1e-12)
        layers.append({"layer": layer, "clips_matched": len(matched), "pearson_r": r,
                       "median_relative_error": float(np.median(relative)) if len(matched) else float("nan"),
                       "nearest_is_self": _nearest_is_self(a, theirs.astype(np.float64), rows)})
    unmatched = [{"clip_id": c, "where": "workflow only"} for c in ids if c not in position]
    ours_set = set(ids)
    unmatched += [{"clip_id": c, "where": "authors only"} for c in authors_ids if c not in ours_set]
    return pd.DataFrame(layers), pd.DataFrame(unmatched, columns=["clip_id", "where"])
