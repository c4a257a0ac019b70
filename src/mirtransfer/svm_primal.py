"""Linear-kernel SVC and SVR solved exactly in the primal, for fits libsvm does not finish.

libsvm's SMO solves the dual. With a linear kernel on unscaled features (MFCC means
up to several hundred) it needs hundreds of millions of iterations, and neither
rescaling the kernel with C nor centring the features changes its path: both leave its
working-set choices and stopping test the same. The same problem in the primal,

    SVC (labels s = +-1):  min 1/2 |w|^2 + C sum xi   s.t.  s_i (w.x_i + b) >= 1 - xi_i,  xi >= 0
    SVR (epsilon 0.1):     min 1/2 |w|^2 + C sum (xi + xi*)  s.t.  -eps - xi*_i <= y_i - w.x_i - b <= eps + xi_i

(an unpenalised bias b, as libsvm's), has d + 1 + n variables and is solved by an
interior-point method (Clarabel) in a few dozen iterations whatever the features' scale.
Multi-class SVC is one-vs-one with libsvm's vote: the pair (i, j), i < j, labels class i
+1 and votes i when w.x + b > 0, else j; ties go to the first class, as in libsvm.
"""

from __future__ import annotations

import itertools

import clarabel
import numpy as np
import scipy.sparse as sp

EPSILON = 0.1  # scikit-learn's SVR default, the one the grid uses
SOLVED = ("Solved", "AlmostSolved")


class PrimalNotSolved(RuntimeError):
    """Clarabel stopped without an optimum (its status says why)."""


def _solve(P: sp.csc_matrix, q: np.ndarray, A: sp.csc_matrix, b: np.ndarray) -> np.ndarray:
    """argmin 1/2 z'Pz + q'z subject to Az <= b (Clarabel, one thread, faer's LDL)."""
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    settings.max_threads = 1
    # Supernodal LDL: the KKT system holds a dense (pair's clips x features) block; 1.4x faster
    # than the default qdldl on urbansound's pairs (1,570 x 160), the same optimum to 2e-10.
    settings.direct_solve_method = "faer"
    solution = clarabel.DefaultSolver(P, q, A, b, [clarabel.NonnegativeConeT(A.shape[0])], settings).solve()
    if str(solution.status) not in SOLVED:
        raise PrimalNotSolved(f"the primal SVM problem ended with status {solution.status}")
    return np.asarray(solution.x)


def _norm_of_w(d: int, others: int) -> sp.csc_matrix:
    """P of 1/2 |w|^2 over z = (w, b, slacks): the identity on w, zero elsewhere."""
    return sp.block_diag([sp.identity(d), sp.csc_matrix((1 + others, 1 + others))], format="csc")


def binary_svc(X: np.ndarray, s: np.ndarray, C: float) -> tuple[np.ndarray, float]:
    """(w, b) of the soft-margin SVM on rows X with labels s in {-1, +1}."""
    n, d = X.shape
    eye = sp.identity(n, format="csc")
    A = sp.vstack([sp.hstack([sp.csc_matrix(-s[:, None] * X), sp.csc_matrix(-s[:, None]), -eye]),
                   sp.hstack([sp.csc_matrix((n, d + 1)), -eye])], format="csc")
    b = np.r_[-np.ones(n), np.zeros(n)]
    z = _solve(_norm_of_w(d, n), np.r_[np.zeros(d + 1), np.full(n, float(C))], A, b)
    return z[:d], float(z[d])


def svr(X: np.ndarray, y: np.ndarray, C: float, epsilon: float = EPSILON) -> tuple[np.ndarray, float]:
    """(w, b) of the epsilon-insensitive SVR on rows X with targets y."""
    n, d = X.shape
    eye, zeros, ones = sp.identity(n, format="csc"), sp.csc_matrix((n, n)), sp.csc_matrix(np.ones((n, 1)))
    Xs = sp.csc_matrix(X)
    A = sp.vstack([sp.hstack([-Xs, -ones, -eye, zeros]),   # y - w.x - b <= eps + xi
                   sp.hstack([Xs, ones, zeros, -eye]),     # w.x + b - y <= eps + xi*
                   sp.hstack([sp.csc_matrix((2 * n, d + 1)), -sp.identity(2 * n)])], format="csc")
    b = np.r_[epsilon - y, epsilon + y, np.zeros(2 * n)]
    z = _solve(_norm_of_w(d, 2 * n), np.r_[np.zeros(d + 1), np.full(2 * n, float(C))], A, b)
    return z[:d], float(z[d])


def pairs(n_classes: int) -> list[tuple[int, int]]:
    """The one-vs-one pairs (i, j), i < j, in libsvm's order (that of scikit-learn's n_iter_ and 'ovo' decisions)."""
    return list(itertools.combinations(range(n_classes), 2))


def pair_decision(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, C: float, first, second) -> np.ndarray:
    """w.x + b on X_test of the SVM of class ``first`` (+1) against ``second`` (-1), as libsvm's pair decision."""
    pair = (y_train == first) | (y_train == second)
    w, b = binary_svc(X_train[pair], np.where(y_train[pair] == first, 1.0, -1.0), C)
    return X_test @ w + b


def vote(decisions: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """libsvm's one-vs-one prediction: pair (i, j) votes i when its decision is > 0, else j; ties go to the first class."""
    votes = np.zeros((len(decisions), len(classes)), dtype=np.int64)
    for k, (i, j) in enumerate(pairs(len(classes))):
        first = decisions[:, k] > 0
        votes[:, i] += first
        votes[:, j] += ~first
    return classes[np.argmax(votes, axis=1)]


def fit_predict(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, C: float, kind: str) -> np.ndarray:
    """Predictions for X_test of the linear SVC (one-vs-one over the sorted classes) or SVR fitted on the training rows."""
    if kind == "regression":
        w, b = svr(X_train, np.asarray(y_train, dtype=np.float64), C)
        return X_test @ w + b
    classes = np.unique(y_train)
    decisions = np.column_stack([pair_decision(X_train, y_train, X_test, C, classes[i], classes[j])
                                 for i, j in pairs(len(classes))])
    return vote(decisions, classes)
