"""Score a feature set on a target task with the paper's SVM/SVR grid search.

Protocols make the folds: ``kfold`` (k folds without shuffling, stratified for
classification, in manifest order), ``predefined_folds`` (a fold column) and
``train_test`` (a split column). The grid is the paper's: an optional standard
scaler (on/off) and SVC or SVR with an rbf kernel (C in {0.1, 2, 8, 32}, gamma in
{2^-3, ..., 2^-13, 1/n_features}) or a linear kernel (same C): 64 candidates.

``paper`` mode reports the best candidate's fold mean, each fold weighted by its
size, as the paper did; it selects hyper-parameters on the folds it reports, so it
is optimistic. ``nested`` mode selects on inner folds of each outer training set
and reports the outer folds: quote it for new results.

Speed: each fold's kernel matrix is computed once per (scaler, kernel, gamma) (from
slices of one distance or Gram matrix of all clips when unscaled) and reused for every
C through libsvm's precomputed kernel; the (fold, scaler) units run in parallel threads,
split further by (kernel, gamma) when there are few folds.
Classification scores equal scikit-learn's plain GridSearchCV; SVR scores can differ by about 1e-4, because libsvm stops at a
tolerance of 1e-3 and the kernel values differ from its own in the last bits.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn import config_context
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, SVR
from sklearn.utils.parallel import Parallel, delayed

from mirtransfer import featuresets
from mirtransfer.manifest import read_manifest

C_VALUES = (0.1, 2.0, 8.0, 32.0)
GAMMA_EXPONENTS = (3, 5, 7, 9, 11, 13)
KINDS = ("classification", "regression")
# The authors' OptionalStandardScaler set with_mean/with_std in __init__ only; GridSearchCV
# clones it as OptionalStandardScaler(on=False) and then sets `on=True` as a plain
# attribute, so it never scaled: their published scores come from unscaled features.
AUTHORS_SCALING = (False,)

Fold = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Candidate:
    """One point of the grid; gamma 'auto' means 1/n_features, None for the linear kernel."""

    scale: bool
    kernel: str
    C: float
    gamma: float | str | None = None

    def params(self) -> dict[str, Any]:
        return asdict(self)


def paper_grid(scaling: tuple[bool, ...] = (False, True)) -> list[Candidate]:
    """The paper's candidates (32 per scaler setting), in a fixed order.

    scaling: the scaler settings searched. The paper states on and off; the authors'
    code searched off twice in effect (see AUTHORS_SCALING).
    """
    gammas: list[float | str] = [0.5**e for e in GAMMA_EXPONENTS] + ["auto"]
    grid = []
    for scale in scaling:
        grid += [Candidate(scale, "rbf", c, g) for c in C_VALUES for g in gammas]
        grid += [Candidate(scale, "linear", c) for c in C_VALUES]
    return grid


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
) -> list[Fold]:
    """(train indices, test indices) per fold, in a fixed order."""
    if protocol == "kfold":
        if kind == "classification":
            classes, counts = np.unique(y, return_counts=True)
            if counts.min() < n_folds:
                raise ValueError(f"class {classes[np.argmin(counts)]!r} has {counts.min()} clips, fewer than n_folds={n_folds}; "
                                 "lower the task's n_folds or add clips")
        elif len(y) < n_folds:
            raise ValueError(f"{len(y)} clips are fewer than n_folds={n_folds}")
        splitter = StratifiedKFold(n_folds, shuffle=False) if kind == "classification" else KFold(n_folds, shuffle=False)
        return [(tr, te) for tr, te in splitter.split(np.zeros(len(y)), y)]
    if protocol == "predefined_folds":
        if fold is None or pd.isna(fold).any():
            raise ValueError("protocol predefined_folds needs a fold for every clip (the manifest's 'fold' column)")
        values = np.unique(fold)
        if len(values) < 2:
            raise ValueError(f"protocol predefined_folds needs at least two folds, found {values.tolist()}")
        return [(np.nonzero(fold != v)[0], np.nonzero(fold == v)[0]) for v in values]
    if protocol == "train_test":
        if split is None:
            raise ValueError("protocol train_test needs the manifest's 'split' column")
        train = np.nonzero(np.isin(split, train_splits))[0]
        test = np.nonzero(np.isin(split, test_splits))[0]
        if not len(train) or not len(test):
            raise ValueError(f"protocol train_test: no clip in splits {train_splits} or {test_splits}; found {sorted(set(map(str, split)))}")
        return [(train, test)]
    raise ValueError(f"unknown protocol {protocol!r}; use kfold, predefined_folds or train_test")


def _score(kind: str, y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Accuracy or R² (the same values as scikit-learn's, without its per-call validation)."""
    if kind == "classification":
        return float(np.mean(y_true == y_pred))
    residual = float(np.sum((y_true - y_pred) ** 2))
    total = float(np.sum((y_true - np.mean(y_true)) ** 2))
    return 1.0 - residual / total if total > 0 else (1.0 if residual == 0 else 0.0)


def _sq_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances, clipped at 0 (as scikit-learn's rbf_kernel)."""
    d = (a * a).sum(1)[:, None] - 2.0 * a @ b.T + (b * b).sum(1)[None, :]
    return np.maximum(d, 0.0, out=d)


def _kernel(gamma: float | str | None, base: np.ndarray, n_features: int) -> np.ndarray:
    """A kernel matrix from its base: the Gram matrix (linear, gamma None) or squared distances (rbf)."""
    if gamma is None:
        return base
    return np.exp(-(1.0 / n_features if gamma == "auto" else float(gamma)) * base)


def _unit_scores(X: np.ndarray, y: np.ndarray, fold: Fold, scale: bool, candidates: list[Candidate], kind: str,
                 full: tuple[np.ndarray, np.ndarray] | None = None) -> list[float]:
    """Scores of candidates sharing one fold and one scaler setting.

    Without scaling, ``full`` holds the squared distances and the Gram matrix of all
    clips, and the fold's kernels are computed from slices of them. Each (kernel, gamma)
    kernel is computed once and reused for every C.
    """
    train, test = fold
    estimator = SVC if kind == "classification" else SVR
    if scale:
        scaler = StandardScaler().fit(X[train])
        xtr, xte = scaler.transform(X[train]), scaler.transform(X[test])
        bases = {"rbf": lambda: (_sq_distances(xtr, xtr), _sq_distances(xte, xtr)),
                 "linear": lambda: (xtr @ xtr.T, xte @ xtr.T)}
    else:
        assert full is not None
        bases = {kernel: lambda m=matrix: (m[np.ix_(train, train)], m[np.ix_(test, train)])
                 for kernel, matrix in zip(("rbf", "linear"), full)}
    cached: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    scores: dict[Candidate, float] = {}
    for kernel, gamma in dict.fromkeys((c.kernel, c.gamma) for c in candidates):
        if kernel not in cached:
            cached[kernel] = bases[kernel]()
        base_tr, base_te = cached[kernel]
        k_tr, k_te = _kernel(gamma, base_tr, X.shape[1]), _kernel(gamma, base_te, X.shape[1])
        for cand in (c for c in candidates if (c.kernel, c.gamma) == (kernel, gamma)):
            model = estimator(kernel="precomputed", C=cand.C).fit(k_tr, y[train])
            scores[cand] = _score(kind, y[test], model.predict(k_te))
    return [scores[c] for c in candidates]


def grid_scores(X: np.ndarray, y: np.ndarray, folds: list[Fold], kind: str, n_jobs: int = 1,
                candidates: list[Candidate] | None = None,
                scaling: tuple[bool, ...] = (False, True)) -> tuple[list[Candidate], np.ndarray]:
    """Every candidate's score on every fold: (candidates, array of shape (candidates, folds)).

    The work runs in parallel threads in units of one fold and one scaler setting; when
    there are too few of those to keep the workers busy (a single train/test split), each
    (kernel, gamma) becomes a unit of its own.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    candidates = candidates or paper_grid(scaling)
    X = np.asarray(X, dtype=np.float64)
    if kind == "classification":  # integer codes: libsvm's own label type, and no per-fit label checks
        y = np.unique(y, return_inverse=True)[1].astype(np.float64)
    by_scale: dict[bool, list[Candidate]] = {}
    for cand in candidates:
        by_scale.setdefault(cand.scale, []).append(cand)
    workers = n_jobs if n_jobs > 0 else os.cpu_count() or 1
    split = len(folds) * len(by_scale) < 4 * workers
    units = []
    for f in range(len(folds)):
        for scale, cands in by_scale.items():
            keys = dict.fromkeys((c.kernel, c.gamma) for c in cands) if split else [None]
            units += [(f, scale, [c for c in cands if key is None or (c.kernel, c.gamma) == key]) for key in keys]
    # Unscaled kernels of every fold are slices of the same two matrices: compute them once.
    full = (_sq_distances(X, X), X @ X.T) if False in by_scale else None
    # Threads: libsvm and BLAS release the GIL, and threads start and share the data for free.
    # The kernels are finite and the parameters fixed: skip scikit-learn's scans of them.
    with config_context(assume_finite=True, skip_parameter_validation=True):
        results = Parallel(n_jobs=n_jobs, prefer="threads")(
            delayed(_unit_scores)(X, y, folds[f], scale, cands, kind, full) for f, scale, cands in units
        )
    table = np.zeros((len(candidates), len(folds)))
    position = {c: i for i, c in enumerate(candidates)}
    for (f, _, cands), scores in zip(units, results):
        for cand, score in zip(cands, scores):
            table[position[cand], f] = score
    return candidates, table


def weighted_means(table: np.ndarray, folds: list[Fold]) -> np.ndarray:
    """Each candidate's fold mean, weighted by the folds' test sizes."""
    sizes = np.array([len(te) for _, te in folds], dtype=np.float64)
    return table @ sizes / sizes.sum()


def evaluate(X: np.ndarray, y: np.ndarray, folds: list[Fold], kind: str, *, mode: str = "paper",
             inner_folds: int = 5, n_jobs: int = 1, scaling: tuple[bool, ...] = (False, True)) -> dict[str, Any]:
    """Score one feature set; the result holds the score, per-fold scores, best parameters and timings."""
    t0 = time.perf_counter()
    if mode == "paper":
        candidates, table = grid_scores(X, y, folds, kind, n_jobs, scaling=scaling)
        means = weighted_means(table, folds)
        best = int(np.argmax(means))  # first best in grid order, as GridSearchCV
        result = {"score": float(means[best]), "fold_scores": table[best].tolist(), "best_params": candidates[best].params()}
    elif mode == "nested":
        fold_scores, params = [], []
        for train, test in folds:
            inner = make_folds("kfold", kind, y[train], n_folds=inner_folds)
            candidates, table = grid_scores(X[train], y[train], inner, kind, n_jobs, scaling=scaling)
            best = candidates[int(np.argmax(weighted_means(table, inner)))]
            _, outer = grid_scores(X, y, [(train, test)], kind, 1, candidates=[best])
            fold_scores.append(float(outer[0, 0]))
            params.append(best.params())
        score = weighted_means(np.array([fold_scores]), folds)[0]
        result = {"score": float(score), "fold_scores": fold_scores, "best_params": params}
    else:
        raise ValueError(f"mode must be 'paper' or 'nested', not {mode!r}")
    result.update({
        "mode": mode, "kind": kind, "metric": "accuracy" if kind == "classification" else "r2",
        "n_clips": int(len(y)), "n_features": int(X.shape[1]), "fold_sizes": [int(len(te)) for _, te in folds],
        "scaling": list(scaling),
        "seconds": time.perf_counter() - t0,
    })
    return result


def score_feature_set(
    manifest_path: str | Path,
    dataset: str,
    feature_set: str,
    task: dict[str, Any],
    *,
    mode: str = "paper",
    inner_folds: int = 5,
    n_jobs: int = 1,
    scaling: tuple[bool, ...] = (False, True),
    root: str | Path = ".",
) -> dict[str, Any]:
    """Score one feature set of a dataset on one task under the task's protocol.

    task: {target, kind, protocol, n_folds, train_splits, test_splits} (config: tasks.<name>).
    """
    manifest, _ = read_manifest(manifest_path)
    clip_ids, X, _ = featuresets.load(root, dataset, feature_set)
    y = featuresets.targets(manifest, clip_ids, task["target"])
    y = y.astype(np.float64) if task["kind"] == "regression" else y.astype(str)
    rows = manifest.set_index("clip_id").loc[clip_ids]
    folds = make_folds(
        task["protocol"], task["kind"], y,
        n_folds=task.get("n_folds", 10),
        fold=rows["fold"].to_numpy(),
        split=rows["split"].to_numpy(),
        train_splits=tuple(task.get("train_splits", ("train", "valid"))),
        test_splits=tuple(task.get("test_splits", ("test",))),
    )
    result = evaluate(X, y, folds, task["kind"], mode=mode, inner_folds=inner_folds, n_jobs=n_jobs, scaling=scaling)
    result.update({"dataset": dataset, "feature_set": feature_set, "task": task})
    return result
