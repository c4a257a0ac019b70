"""Score a feature set on a target task with the paper's SVM/SVR grid search.

The task's protocol makes the folds (:mod:`mirtransfer.folds`). The grid is the
paper's: an optional standard scaler (on/off) and SVC or SVR with an rbf kernel (C in
{0.1, 2, 8, 32}, gamma in {2^-3, 2^-5, ..., 2^-13, 1/n_features}) or a linear kernel (same C):
64 candidates.

``paper`` mode reports the best candidate's fold mean, each fold weighted by its
size, as the paper did; it selects hyper-parameters on the folds it reports, so it
is optimistic. ``nested`` mode selects on inner folds of each outer training set
and reports the outer folds: quote it for new results.

Speed: each fold's kernel matrix is computed once per (scaler, kernel, gamma) (from
slices of one distance or Gram matrix of all clips when unscaled) and reused for every
C through libsvm's precomputed kernel, with the training clips grouped by class as libsvm
groups them (``_grouped``); folds are scored one at a time, their units (one per rbf gamma,
one per linear candidate) in parallel threads. Both modes prune: a
candidate whose fold mean can no longer reach the best one's is not fitted on its
remaining folds, which leaves the reported score and parameters unchanged. A candidate
whose fit is another's (gamma 'auto' is 1/n_features, equal to a grid gamma for 32 or 128
features) takes that one's scores instead of fitting again (solver ``shared``).
Unbounded (``bounded=False``), classification fold scores equal scikit-learn's plain GridSearchCV's; SVR scores can
differ by about 1e-4, because libsvm stops at a tolerance of 1e-3 and the kernel values differ from its own in the last
bits. Candidates are ranked by the fold-size-weighted mean (scikit-learn 0.19's ``iid=True``, which the authors' grid
search used); today's GridSearchCV ranks by the plain mean, which can pick another candidate where folds differ in size.

Bounded fits (``bounded=True``, the workflow's evaluation): libsvm stops after
LINEAR_SWITCH iterations on a linear-kernel problem (one binary pair of a one-vs-one SVC),
which is then solved exactly in the primal (:mod:`mirtransfer.svm_primal`; the pairs libsvm
finished keep libsvm's decisions): the same optimum, reached in a bounded time where
libsvm can need hundreds of millions of iterations (unscaled MFCCs). An rbf fit stops
after RBF_CAP iterations and keeps the solution it has; such a fit is counted and listed
as ``capped`` in the result. ``bounded=False`` (the reproduction) runs libsvm to its end.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
from scipy import stats
from sklearn import config_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, SVR
from sklearn.utils.parallel import Parallel, delayed
from threadpoolctl import threadpool_limits

from mirtransfer import featuresets, svm_primal
from mirtransfer.folds import Fold, make_folds, task_folds, task_targets
from mirtransfer.manifest import read_manifest

C_VALUES = (0.1, 2.0, 8.0, 32.0)
GAMMA_EXPONENTS = (3, 5, 7, 9, 11, 13)
KINDS = ("classification", "regression")
log = logging.getLogger(__name__)  # progress of long cells: one line per fold
# Pruning (see grid_scores): folds every candidate is scored on, and the number of the
# best of those then scored on every fold to set the bar.
PROBE_FOLDS = 2
LEADERS = 4
# The authors' OptionalStandardScaler set with_mean/with_std in __init__ only; GridSearchCV
# clones it as OptionalStandardScaler(on=False) and then sets `on=True` as a plain
# attribute, so it never scaled: their published scores come from unscaled features.
AUTHORS_SCALING = (False,)
# Bounded fits: libsvm iterations per binary problem before a linear fit moves to the
# primal solver, and before an rbf fit stops with what it has (a safety net; not reached in
# the benchmarks). The switch is a few times below the iterations libsvm does in the time of
# one primal solve (30 to 60 ms on Extended Ballroom's pairs): one fold of its `mfcc` cell,
# one thread, took 105 s with a switch of 100,000, 59 s with 20,000, 53 s with 5,000.
LINEAR_SWITCH = 5_000
RBF_CAP = 10_000_000
SOLVERS = ("libsvm", "primal", "capped", "shared")  # shared: the score of an identical fit (see grid_scores)
FITTED = SOLVERS[:3]
UNDERFLOW = -700.0  # rbf kernel arguments below this give 0 (see _kernel)

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


def _score(kind: str, y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Accuracy or R² (the same values as scikit-learn's, without its per-call validation)."""
    if kind == "classification":
        return float(np.mean(y_true == y_pred))
    residual = float(np.sum((y_true - y_pred) ** 2))
    total = float(np.sum((y_true - np.mean(y_true)) ** 2))
    return 1.0 - residual / total if total > 0 else (1.0 if residual == 0 else 0.0)


Bases = dict[str, tuple[np.ndarray, np.ndarray]]


class Scratch:
    """Matrices reused across a grid's folds and units, taken and given back from parallel threads.

    A fresh array is memory the system has to map page by page on first write: a new
    7,860 x 7,860 kernel matrix (494 MB) cost about 1.2 s on the 2-core machine, ten times
    its exp, while writing into memory an earlier fold had released took 0.1 s.
    """

    SLACK = 1.05  # a new buffer's room over its first matrix: folds differ in size by a few percent

    def __init__(self) -> None:
        self._free: list[np.ndarray] = []
        self._lock = threading.Lock()

    def take(self, rows: int, cols: int) -> np.ndarray:
        """An uninitialised (rows, cols) C-ordered float64 matrix, in the smallest free buffer that holds it
        and is at most SLACK**2 times its size (small matrices do not hold large buffers), else in a new one."""
        size = rows * cols
        with self._lock:
            fitting = [i for i, buffer in enumerate(self._free) if size <= buffer.size <= size * self.SLACK**2]
            buffer = self._free.pop(min(fitting, key=lambda i: self._free[i].size)) if fitting else None
        if buffer is None:
            buffer = np.empty(int(size * self.SLACK) + 1)
        return buffer[:size].reshape(rows, cols)

    def give(self, *matrices: np.ndarray) -> None:
        """Matrices from ``take`` that nobody reads any more, for later ``take`` calls."""
        with self._lock:
            self._free += [matrix.base for matrix in matrices]


def _sq_distances(a: np.ndarray, b: np.ndarray, gram: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances from the Gram matrix ``a @ b.T``, clipped at 0 (as scikit-learn's rbf_kernel), into ``out``."""
    np.multiply(gram, -2.0, out=out)
    out += (a * a).sum(1)[:, None]
    out += (b * b).sum(1)[None, :]
    return np.maximum(out, 0.0, out=out)


def _bases(a: np.ndarray, b: np.ndarray, kernels: set[str], scratch: Scratch) -> Bases:
    """Base matrices of rows ``a`` against rows ``b``: the Gram matrix (linear) and squared distances (rbf)."""
    gram = np.matmul(a, b.T, out=scratch.take(len(a), len(b)))
    out = {"linear": gram} if "linear" in kernels else {}
    if "rbf" in kernels:
        out["rbf"] = _sq_distances(a, b, gram, scratch.take(len(a), len(b)))
    if "linear" not in kernels:
        scratch.give(gram)
    return out


def _block(matrix: np.ndarray, rows: np.ndarray, cols: np.ndarray, scratch: Scratch) -> np.ndarray:
    """``matrix[np.ix_(rows, cols)]``, copied row by row into a scratch matrix (valid indices only:
    mode 'clip' skips the bounds checks, a quarter of the copy's time)."""
    out = scratch.take(len(rows), len(cols))
    for target, row in zip(out, rows):
        np.take(matrix[row], cols, out=target, mode="clip")
    return out


def gamma_value(gamma: float | str | None, n_features: int) -> float | None:
    """The rbf gamma a candidate's kernel uses: 'auto' is 1/n_features (None for the linear kernel)."""
    return 1.0 / n_features if gamma == "auto" else None if gamma is None else float(gamma)


def _kernel(gamma: float | str | None, base: np.ndarray, n_features: int, scratch: Scratch) -> np.ndarray:
    """A kernel matrix from its base: the Gram matrix itself (linear, gamma None) or, in a scratch
    matrix, the rbf kernel of squared distances."""
    if gamma is None:
        return base
    kernel = np.multiply(base, -gamma_value(gamma, n_features), out=scratch.take(*base.shape))  # exp in place
    if kernel.min() >= UNDERFLOW:
        return np.exp(kernel, out=kernel)
    # Far clips (unscaled features): arguments below UNDERFLOW give 0 instead of values under
    # 1e-304, denormals among them, which libsvm's float32 kernel cache holds as 0 anyway;
    # numpy's exp is 10-70x slower on such arguments.
    np.maximum(kernel, UNDERFLOW, out=kernel)
    np.exp(kernel, out=kernel)
    return np.multiply(kernel, kernel > np.exp(UNDERFLOW), out=kernel)


Rows = tuple[np.ndarray, np.ndarray]


def _grouped(fold: Fold, y: np.ndarray) -> Fold:
    """The fold with its training clips grouped by class (classes ascending, clip order kept within one).

    libsvm groups a one-vs-one SVC's training clips so, then reads each pair's kernel rows;
    handing them over grouped makes those reads two contiguous runs per row instead of
    clips scattered over the row. libsvm's fits are the same (the same subproblems in the
    same order: equal dual coefficients); the primal solver (linear fits past the switch)
    sums over the rows in this order, so its solutions may differ from the index order's
    in rounding (no score changed in the five cells checked, see the README). urbansound's
    rbf fits (7,859 training clips, 494 MB kernel matrices) ran 1.23 times faster, those
    of smaller tasks as fast as before (bench/grouped_fits.py).
    """
    train, test = fold
    return train[np.argsort(y[train], kind="stable")], test


def _fold_bases(X: np.ndarray, fold: Fold, scale: bool, kernels: set[str], full: Bases | None,
                scratch: Scratch) -> tuple[Bases, Rows]:
    """One fold's base matrices per kernel, as (train x train, test x train), in scratch matrices, and its (train, test) feature rows.

    Rows and columns follow the fold's order of clips (``_grouped``); the values do not
    depend on it. Without scaling the matrices are blocks of ``full``, the base matrices of
    all clips. With scaling they are computed on the training clips in index order (the
    BLAS product's last bits can depend on the row order) and then arranged in the fold's.
    """
    train, test = fold
    if not scale:
        assert full is not None
        return ({k: (_block(full[k], train, train, scratch), _block(full[k], test, train, scratch)) for k in kernels},
                (X[train], X[test]))
    ordered = np.sort(train)
    scaler = StandardScaler().fit(X[ordered])
    xtr, xte = scaler.transform(X[ordered]), scaler.transform(X[test])
    tr, te = _bases(xtr, xtr, kernels, scratch), _bases(xte, xtr, kernels, scratch)
    if np.array_equal(ordered, train):
        return {k: (tr[k], te[k]) for k in kernels}, (xtr, xte)
    at = np.searchsorted(ordered, train)  # each fold clip's row in index order
    out = {k: (_block(tr[k], at, at, scratch), _block(te[k], np.arange(len(test)), at, scratch)) for k in kernels}
    scratch.give(*tr.values(), *te.values())
    return out, (xtr[at], xte)


def _fit_predict(kernels: tuple[np.ndarray, np.ndarray], rows: Rows, y_train: np.ndarray, candidate: Candidate,
                 kind: str, bounded: bool) -> tuple[np.ndarray, str]:
    """Test predictions of one candidate and the solver that gave them: 'libsvm', 'primal' or 'capped'.

    kernels: (train x train, test x train) kernel matrices; rows: the (scaled) feature rows,
    for the primal solver. bounded: see the module's docstring.
    """
    cap = -1 if not bounded else LINEAR_SWITCH if candidate.kernel == "linear" else RBF_CAP
    if kind == "classification":  # 'ovo': libsvm's own pair decisions (predict is the same either way)
        model = SVC(kernel="precomputed", C=candidate.C, max_iter=cap, decision_function_shape="ovo")
    else:
        model = SVR(kernel="precomputed", C=candidate.C, max_iter=cap)
    model.fit(kernels[0], y_train)
    if model.fit_status_ == 0:
        return model.predict(kernels[1]), "libsvm"
    if candidate.kernel != "linear":
        return model.predict(kernels[1]), "capped"
    if kind == "regression" or len(model.classes_) == 2:
        return svm_primal.fit_predict(rows[0], y_train, rows[1], candidate.C, kind), "primal"
    # One-vs-one: only the pairs that reached the switch are solved again, in the primal.
    decisions = model.decision_function(kernels[1]).copy()
    for k, ((i, j), iterations) in enumerate(zip(svm_primal.pairs(len(model.classes_)), model.n_iter_)):
        if iterations >= cap:
            decisions[:, k] = svm_primal.pair_decision(rows[0], y_train, rows[1], candidate.C,
                                                       model.classes_[i], model.classes_[j])
    return svm_primal.vote(decisions, model.classes_), "primal"


def _unit_scores(base: tuple[np.ndarray, np.ndarray], rows: Rows, y: np.ndarray, fold: Fold,
                 candidates: list[Candidate], kind: str, n_features: int, bounded: bool,
                 scratch: Scratch) -> list[tuple[float, float, str]]:
    """(score, seconds, solver) of candidates sharing one fold, scaler setting, kernel and gamma: one kernel matrix, one fit per C."""
    train, test = fold
    gamma = candidates[0].gamma
    kernels = tuple(_kernel(gamma, b, n_features, scratch) for b in base)
    out = []
    for cand in candidates:
        t0 = time.perf_counter()
        predicted, solver = _fit_predict(kernels, rows, y[train], cand, kind, bounded)
        out.append((_score(kind, y[test], predicted), time.perf_counter() - t0, solver))
    if gamma is not None:  # rbf: the unit's own kernel matrices (linear ones are the fold's bases)
        scratch.give(*kernels)
    return out


Tasks = list[tuple[Callable, tuple]]


def _serial(tasks: Tasks) -> list[Any]:
    """Run (function, arguments) tasks one after the other, in the calling thread."""
    return [function(*args) for function, args in tasks]


def _score_fold(run: Callable[[Tasks], list[Any]], X: np.ndarray, y: np.ndarray, fold: Fold, kind: str,
                candidates: list[Candidate], full: Bases | None, bounded: bool, scratch: Scratch,
                seconds: dict[Candidate, float] | None = None) -> list[tuple[float, str]]:
    """The candidates' (score, solver) on one fold.

    First the fold's base matrices, one task per scaler setting, then the fits, both in
    parallel: one unit per rbf gamma, which reuses its kernel matrix for every C, and one
    per linear candidate (its kernel is the Gram matrix itself; these fits are the slow
    ones on unscaled features). Units start longest first by the fit times in
    ``seconds`` (measured on earlier folds, updated here), so that no long fit starts last.
    run: runs (function, arguments) tasks in parallel threads, or ``_serial`` when the
    caller runs folds in parallel.
    """
    seconds = {} if seconds is None else seconds
    scales = list(dict.fromkeys(c.scale for c in candidates))
    bases = dict(zip(scales, run([(_fold_bases, (X, fold, scale, {c.kernel for c in candidates if c.scale == scale}, full,
                                                 scratch))
                                   for scale in scales])))
    keys = [(c.scale, c.kernel, c.gamma, c.C if c.kernel == "linear" else None) for c in candidates]
    units = [[c for c, k in zip(candidates, keys) if k == key] for key in dict.fromkeys(keys)]
    units.sort(key=lambda unit: sum(seconds.get(c, np.inf) for c in unit), reverse=True)
    results = run([(_unit_scores, (bases[unit[0].scale][0][unit[0].kernel], bases[unit[0].scale][1], y, fold, unit,
                                   kind, X.shape[1], bounded, scratch))
                   for unit in units])
    scratch.give(*(matrix for fold_bases, _ in bases.values() for pair in fold_bases.values() for matrix in pair))
    scores = {}
    for unit, unit_results in zip(units, results):
        for cand, (score, fit_seconds, solver) in zip(unit, unit_results):
            scores[cand] = (score, solver)
            seconds[cand] = fit_seconds
    return [scores[c] for c in candidates]


def twins(candidates: list[Candidate], n_features: int) -> list[int]:
    """For each candidate, the index of the first one with the same fit (scaler, kernel, C and
    gamma, 'auto' read as 1/n_features): its own index unless 'auto' equals an earlier grid gamma."""
    first: dict[tuple, int] = {}
    return [first.setdefault((c.scale, c.kernel, c.C, gamma_value(c.gamma, n_features)), i)
            for i, c in enumerate(candidates)]


def grid_scores(X: np.ndarray, y: np.ndarray, folds: list[Fold], kind: str, n_jobs: int = 1,
                candidates: list[Candidate] | None = None,
                scaling: tuple[bool, ...] = (False, True), prune: bool = False,
                bounded: bool = True) -> tuple[list[Candidate], np.ndarray, np.ndarray]:
    """Every candidate's score on every fold: (candidates, scores, solvers), arrays of shape (candidates, folds).

    solvers: which solver gave each score ('libsvm', 'primal' or 'capped', see the
    module's docstring; '' where pruned; 'shared' where the candidate's fit is an earlier
    candidate's, see ``twins``, whose scores it takes: the same kernel matrix and C give the
    same fit, so the table is the one of fitting both). bounded: caps libsvm's iterations.
    prune: see ``_grid_scores``.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, not {kind!r}")
    candidates = candidates or paper_grid(scaling)
    first = twins(candidates, np.shape(X)[1])
    distinct, rows = np.unique(first, return_inverse=True)  # the fitted candidates, and each one's row among them
    table, solvers = _grid_scores(X, y, folds, kind, n_jobs, [candidates[i] for i in distinct], prune, bounded)
    table, solvers = table[rows], solvers[rows]
    copies = np.array([i != j for i, j in enumerate(first)])
    solvers[copies] = np.where(solvers[copies] == "", "", "shared")
    return candidates, table, solvers


def fits_run(*solvers: np.ndarray) -> int:
    """The SVM fits behind solver tables (pruned and shared entries are not fits)."""
    return int(sum(np.isin(s, FITTED).sum() for s in solvers))


def _grid_scores(X: np.ndarray, y: np.ndarray, folds: list[Fold], kind: str, n_jobs: int,
                 candidates: list[Candidate], prune: bool, bounded: bool) -> tuple[np.ndarray, np.ndarray]:
    """Scores and solvers of distinct candidates on every fold (see ``grid_scores``).

    Folds are scored one after the other, each in parallel threads (see ``_score_fold``);
    a fold's matrices are written into memory earlier folds released (``Scratch``).

    prune: skip the rest of a candidate's folds once even perfect scores on them (an
    accuracy or R² of 1) could not bring its fold mean up to that of a fully scored
    candidate; its skipped entries stay NaN. The best candidate, its score and its fold
    scores are the same as without pruning. Order: every candidate on the first
    PROBE_FOLDS folds, the LEADERS best of those on all folds (the best of them sets the
    bar), then fold by fold the candidates that can still reach the bar.
    """
    X = np.asarray(X, dtype=np.float64)
    if kind == "classification":  # integer codes: libsvm's own label type, and no per-fit label checks
        y = np.unique(y, return_inverse=True)[1].astype(np.float64)
        folds = [_grouped(fold, y) for fold in folds]
    # Unscaled kernels of every fold are slices of the same two matrices: compute them once.
    scratch = Scratch()
    full = _bases(X, X, {c.kernel for c in candidates if not c.scale}, scratch) or None
    table = np.full((len(candidates), len(folds)), np.nan)
    solvers = np.full((len(candidates), len(folds)), "", dtype=object)
    # Threads: libsvm and BLAS release the GIL, and threads start and share the data for free.
    # One BLAS thread per worker: nested BLAS threads made the work 20% slower on 2 cores.
    # The kernels are finite and the parameters fixed: skip scikit-learn's scans of them.
    # A fit stopped at its iteration cap is reported by its solver, not by a warning.
    with (threadpool_limits(limits=1, user_api="blas"),
          config_context(assume_finite=True, skip_parameter_validation=True),
          warnings.catch_warnings(),
          Parallel(n_jobs=n_jobs, prefer="threads") as parallel):
        warnings.simplefilter("ignore", ConvergenceWarning)

        def in_parallel(tasks: Tasks) -> list[Any]:
            return parallel(delayed(function)(*args) for function, args in tasks)

        seconds: dict[Candidate, float] = {}  # each candidate's last fit time: the order of the next fold's units

        def store(indices: list[int], f: int, results: list[tuple[float, str]]) -> None:
            for i, (score, solver) in zip(indices, results):
                table[i, f], solvers[i, f] = score, solver

        def run(f: int, indices: list[int]) -> None:
            t0 = time.perf_counter()
            store(indices, f, _score_fold(in_parallel, X, y, folds[f], kind, [candidates[i] for i in indices], full,
                                          bounded, scratch, seconds))
            log.info("fold %d of %d: %d candidates, %.1f s", f + 1, len(folds), len(indices), time.perf_counter() - t0)

        everyone = list(range(len(candidates)))
        if not prune or len(folds) == 1:  # one split: nothing to prune
            for f in range(len(folds)):
                run(f, everyone)
            return table, solvers
        weights = np.array([len(te) for _, te in folds], dtype=np.float64)
        weights /= weights.sum()
        probe = min(PROBE_FOLDS, len(folds) - 1)
        for f in range(probe):
            run(f, everyone)
        leaders = [int(i) for i in np.argsort(-(table[:, :probe] @ weights[:probe]), kind="stable")[:LEADERS]]
        leading = [candidates[i] for i in leaders]  # a few fits per fold: parallel over folds instead
        rest = range(probe, len(folds))
        t0 = time.perf_counter()
        for f, results in zip(rest, in_parallel([(_score_fold, (_serial, X, y, folds[f], kind, leading, full, bounded, scratch))
                                                 for f in rest])):
            store(leaders, f, results)
        log.info("the %d leaders on folds %d to %d: %.1f s", len(leaders), probe + 1, len(folds), time.perf_counter() - t0)
        bar = float(weighted_means(table[leaders], folds).max())
        alive = np.ones(len(candidates), dtype=bool)
        alive[leaders] = False
        for f in rest:
            reachable = table[:, :f] @ weights[:f] + weights[f:].sum()
            alive &= reachable >= bar - 1e-9  # margin: float rounding of the sums, far below any score step
            if alive.any():
                run(f, [int(i) for i in np.nonzero(alive)[0]])
    return table, solvers


def weighted_means(table: np.ndarray, folds: list[Fold]) -> np.ndarray:
    """Each candidate's fold mean, weighted by the folds' test sizes."""
    sizes = np.array([len(te) for _, te in folds], dtype=np.float64)
    return table @ sizes / sizes.sum()


def best_index(table: np.ndarray, folds: list[Fold]) -> int:
    """The first candidate in grid order with the best fold mean (as GridSearchCV); pruned rows (NaN) never win."""
    return int(np.nanargmax(weighted_means(table, folds)))


def interval(fold_scores: list[float], fold_sizes: list[int], kind: str, score: float) -> dict[str, Any]:
    """The spread of a score and a 95% interval around it.

    Several folds: the folds' standard deviation (ddof 1) and score +- t(0.975, k-1) * sd / sqrt(k),
    a rough interval, since folds share training clips. One split: for accuracy the Wilson
    interval over its test clips; for R² none. Kept within the metric's range: [0, 1] for
    accuracy, at most 1 for R².
    """
    k = len(fold_scores)
    if k >= 2:
        sd = float(np.std(fold_scores, ddof=1))
        half = float(stats.t.ppf(0.975, k - 1)) * sd / np.sqrt(k)
        low = max(score - half, 0.0) if kind == "classification" else score - half
        return {"fold_std": sd, "ci95": [low, min(score + half, 1.0)], "ci95_method": "t over folds"}
    if kind == "classification":
        n, z = fold_sizes[0], float(stats.norm.ppf(0.975))
        centre = (score + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(score * (1 - score) / n + z * z / (4 * n * n)) / (1 + z * z / n)
        return {"fold_std": float("nan"), "ci95": [centre - half, centre + half], "ci95_method": "Wilson over test clips"}
    return {"fold_std": float("nan"), "ci95": [float("nan"), float("nan")], "ci95_method": "none (one split, R2)"}


def test_clip_scores(X: np.ndarray, y: np.ndarray, fold: Fold, kind: str, candidate: Candidate,
                     bounded: bool = True) -> list[float]:
    """Per test clip of one split: 1/0 correct (classification) or the squared error (regression) of
    the candidate fitted on the split's training clips (the same kernels and solvers as the grid)."""
    X = np.asarray(X, dtype=np.float64)
    fold = _grouped(fold, y) if kind == "classification" else fold  # as the grid's fits
    scratch = Scratch()
    full = None if candidate.scale else _bases(X, X, {candidate.kernel}, scratch)
    bases, rows = _fold_bases(X, fold, candidate.scale, {candidate.kernel}, full, scratch)
    kernels = tuple(_kernel(candidate.gamma, b, X.shape[1], scratch) for b in bases[candidate.kernel])
    train, test = fold
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        predicted, _ = _fit_predict(kernels, rows, y[train], candidate, kind, bounded)
    if kind == "classification":
        return (predicted == y[test]).astype(float).tolist()
    return ((predicted - y[test]) ** 2).tolist()


def solver_report(grids: list[tuple[list[Candidate], np.ndarray]], chosen: list[Candidate]) -> dict[str, Any]:
    """How the fits of one evaluation were solved: counts per solver, the capped candidates
    (rbf fits stopped at RBF_CAP, with their number of fits) and whether a chosen one is among them."""
    counts = dict.fromkeys(SOLVERS, 0)
    capped: dict[Candidate, int] = {}
    for candidates, solvers in grids:
        for cand, row in zip(candidates, solvers):
            for solver in row:
                if solver:
                    counts[solver] += 1
                if solver == "capped":
                    capped[cand] = capped.get(cand, 0) + 1
    for cand, n in capped.items():
        log.warning("%d fit(s) of %s stopped at libsvm's cap of %d iterations and kept the solution they had",
                    n, cand.params(), RBF_CAP)
    return {"solvers": counts, "capped": [{"params": c.params(), "fits": n} for c, n in capped.items()],
            "chosen_capped": any(c in capped for c in chosen)}


def evaluate(X: np.ndarray, y: np.ndarray, folds: list[Fold], kind: str, *, mode: str = "paper",
             inner_folds: int = 5, n_jobs: int = 1, scaling: tuple[bool, ...] = (False, True),
             selection: Fold | None = None, bounded: bool = True) -> dict[str, Any]:
    """Score one feature set; the result holds the score, per-fold scores, best parameters, solvers and timings.

    selection: a (train, valid) split to choose the candidate on, which is then trained on
    each fold's training clips and scored on its test clips (mode 'valid'); without it,
    ``mode`` chooses: 'paper' (on the reported folds) or 'nested' (on inner folds).
    bounded: cap libsvm's iterations (the module's docstring); False runs every fit to its end.
    """
    t0 = time.perf_counter()
    grids = []  # (candidates, solvers) of every grid run
    if selection is not None:
        candidates, table, solvers = grid_scores(X, y, [selection], kind, n_jobs, scaling=scaling, bounded=bounded)
        best = best_index(table, [selection])
        chosen = [candidates[best]]
        _, outer, outer_solvers = grid_scores(X, y, folds, kind, n_jobs, candidates=chosen, bounded=bounded)
        grids += [(candidates, solvers), (chosen, outer_solvers)]
        result = {"score": float(weighted_means(outer, folds)[0]), "fold_scores": outer[0].tolist(),
                  "best_params": chosen[0].params(), "selection_score": float(table[best, 0])}
        fits = [fits_run(solvers, outer_solvers), table.size + outer.size]
        mode = "valid"
    elif mode == "paper":
        candidates, table, solvers = grid_scores(X, y, folds, kind, n_jobs, scaling=scaling, prune=True,
                                                 bounded=bounded)
        grids.append((candidates, solvers))
        best = best_index(table, folds)
        result = {"score": float(weighted_means(table, folds)[best]), "fold_scores": table[best].tolist(),
                  "best_params": candidates[best].params()}
        fits = [fits_run(solvers), table.size]
        chosen = [candidates[best]]
    elif mode == "nested":
        fold_scores, params, fits, chosen = [], [], [0, 0], []
        for train, test in folds:
            inner = make_folds("kfold", kind, y[train], n_folds=inner_folds, setting="evaluation.inner_folds")
            candidates, table, solvers = grid_scores(X[train], y[train], inner, kind, n_jobs, scaling=scaling,
                                                     prune=True, bounded=bounded)
            best = candidates[best_index(table, inner)]
            _, outer, outer_solvers = grid_scores(X, y, [(train, test)], kind, 1, candidates=[best], bounded=bounded)
            grids += [(candidates, solvers), ([best], outer_solvers)]
            fold_scores.append(float(outer[0, 0]))
            params.append(best.params())
            chosen.append(best)
            fits = [fits[0] + fits_run(solvers, outer_solvers), fits[1] + table.size + 1]
        score = weighted_means(np.array([fold_scores]), folds)[0]
        result = {"score": float(score), "fold_scores": fold_scores, "best_params": params}
    else:
        raise ValueError(f"mode must be 'paper' or 'nested', not {mode!r}")
    result.update(interval(result["fold_scores"], [len(te) for _, te in folds], kind, result["score"]))
    if len(folds) == 1:  # for paired comparisons over clips (McNemar, paired t) between feature sets
        result["test_clip_scores"] = test_clip_scores(X, y, folds[0], kind, chosen[-1], bounded)
    result.update({
        "mode": mode, "kind": kind, "metric": "accuracy" if kind == "classification" else "r2",
        "n_clips": int(len(y)), "n_features": int(X.shape[1]), "fold_sizes": [int(len(te)) for _, te in folds],
        "scaling": list(scaling),
        "fits": {"run": fits[0], "grid": fits[1]},  # SVM fits run, and in the full grid (the rest were pruned)
        "bounded": bounded,
        **solver_report(grids, chosen),
        "seconds": time.perf_counter() - t0,
    })
    return result


def score_feature_set(
    manifest_path: str | Path,
    feature_paths: list[str | Path],
    dataset: str,
    feature_set: str,
    task_name: str,
    task: dict[str, Any],
    *,
    mode: str = "paper",
    inner_folds: int = 5,
    n_jobs: int = 1,
    scaling: tuple[bool, ...] = (False, True),
) -> dict[str, Any]:
    """Score one feature set of a dataset on one task under the task's protocol.

    feature_paths: the set's tables, parts in order (the rule's input);
    task: the config's tasks.<task_name>, its defaults filled by the schema ({target, kind, protocol,
    n_folds, train_splits, test_splits, valid_splits}).
    """
    manifest, _ = read_manifest(manifest_path)
    clip_ids, X, _ = featuresets.load(feature_paths)
    values = featuresets.targets(manifest, clip_ids, task["target"])
    y = task_targets(task_name, task, pd.Series(values, index=clip_ids))
    folds, selection = task_folds(task_name, task, y, manifest.set_index("clip_id").loc[clip_ids])
    result = evaluate(X, y, folds, task["kind"], mode=mode, inner_folds=inner_folds, n_jobs=n_jobs, scaling=scaling,
                      selection=selection)
    result.update({"dataset": dataset, "feature_set": feature_set, "task": task_name, "task_config": task})
    return result
