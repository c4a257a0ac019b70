"""Linear-kernel SVC and SVR solved exactly in the primal, for fits libsvm does not finish.

libsvm's SMO solves the dual. With a linear kernel on unscaled features (MFCC means
up to several hundred) it needs hundreds of millions of iterations, and neither
rescaling the kernel with C nor centring the features changes its path: both leave its
working-set choices and stopping test the same. The same problem in the primal,

    SVC (labels s = +-1):  min 1/2 |w|^2 + C sum xi   s.t.  s_i (w.x_i + b) >= 1 - xi_i,  xi >= 0
    SVR (epsilon 0.1):     min 1/2 |w|^2 + C sum (xi + xi*)  s.t.  -eps - xi*_i <= y_i - w.x_i - b <= eps + xi_i

(an unpenalised bias b, as libsvm's), is one hinge problem (:func:`hinge_qp`) solved by a
primal-dual interior-point method in 10 to 25 iterations whatever the features' scale.
Each iteration solves a (d + 1) x (d + 1) system, ``I_w + [X 1]' Theta [X 1]``, instead of
the problem's full KKT system (the structure Ferris and Munson used for linear SVMs,
SIAM J. Optim. 13(3), 2003): 2.5 to 4.5 times faster than the general solver Clarabel
on Extended Ballroom's one-vs-one pairs (865 clips, 32 and 120 features) and 1.2 to 3.9
times on GTZAN's (180 clips), to the same objective within 3e-8 (tests/test_evaluate.py
compares the two).
Multi-class SVC is one-vs-one with libsvm's vote: the pair (i, j), i < j, labels class i
+1 and votes i when w.x + b > 0, else j; ties go to the first class, as in libsvm.
"""

from __future__ import annotations

import itertools
from typing import Callable

import numpy as np
import scipy.linalg

EPSILON = 0.1  # scikit-learn's SVR default, the one the grid uses
# Relative primal and dual residuals and duality gap at the optimum (TOLERANCE is Clarabel's
# default for its gap and feasibility): the method stops at TOLERANCE or, once within
# REDUCED_TOLERANCE, when STALLED iterations have not improved on its best iterate
# (rounding in badly scaled problems), which it returns.
TOLERANCE = 1e-8
REDUCED_TOLERANCE = 1e-5
STALLED = 5
MAX_ITERATIONS = 100
STEP = 0.99  # fraction of the step to the boundary of the positive orthant


class PrimalNotSolved(RuntimeError):
    """The interior-point method did not come within REDUCED_TOLERANCE of the optimum in MAX_ITERATIONS."""


def _normal_solver(M: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
    """A solver for M v = rhs, M symmetric positive definite (Jacobi-scaled Cholesky; LU where
    rounding left the scaled matrix indefinite, as near the optimum of badly scaled problems)."""
    scale = 1.0 / np.sqrt(np.diag(M))
    scaled = M * scale[:, None] * scale[None, :]
    try:
        factor = scipy.linalg.cho_factor(scaled)
        return lambda rhs: scale * scipy.linalg.cho_solve(factor, scale * rhs)
    except np.linalg.LinAlgError:
        lu = scipy.linalg.lu_factor(scaled)
        return lambda rhs: scale * scipy.linalg.lu_solve(lu, scale * rhs)


def _step_to_boundary(values: tuple[np.ndarray, ...], steps: tuple[np.ndarray, ...]) -> float:
    """The largest alpha <= 1 keeping every values + alpha * steps non-negative."""
    alpha = 1.0
    for v, dv in zip(values, steps):
        negative = dv < 0
        if negative.any():
            alpha = min(alpha, float((-v[negative] / dv[negative]).min()))
    return alpha


def hinge_qp(X: np.ndarray, s: np.ndarray, r: np.ndarray, C: float) -> tuple[np.ndarray, float]:
    """(w, b) minimising 1/2 |w|^2 + C sum xi subject to s_k (x_k.w + b) + xi_k >= r_k and xi >= 0.

    Mehrotra's predictor-corrector on the KKT conditions with multipliers lam (rows) and
    mu (xi >= 0) and slacks t; the (w, b) step solves (I_w + A' Theta A) with A = [X 1] and
    Theta = 1 / (xi / mu + t / lam). Steps for xi, t and mu follow from the linear equations
    (so the constraints stay satisfied to rounding), not from divisions by vanishing values.
    """
    K, d = X.shape
    A = np.hstack([X, np.ones((K, 1))])
    absolute = np.abs(A)
    wb = np.zeros(d + 1)
    xi = np.maximum(r, 0.0) + 1.0  # a strictly feasible start: t = xi - r >= 1
    t = xi - r
    lam, mu = np.full(K, C / 2.0), np.full(K, C / 2.0)
    r_scale = 1.0 + np.abs(r).max()
    best, best_wb, since_best = np.inf, wb.copy(), 0
    for _ in range(MAX_ITERATIONS):
        r_wb = -(A.T @ (s * lam))  # stationarity in w and b (b has no |b|^2 term)
        r_wb[:d] += wb[:d]
        r_p = s * (A @ wb) + xi - r - t
        r_xi = C - lam - mu
        gap = lam @ t + mu @ xi
        objective = 0.5 * wb[:d] @ wb[:d] + C * xi.sum()
        # Residuals relative to the size of the terms they sum (the rounding they can reach).
        error = max(np.abs(r_p).max() / r_scale,
                    np.abs(r_wb).max() / (1.0 + np.abs(wb).max() + (absolute.T @ lam).max()),
                    np.abs(r_xi).max() / C, gap / (1.0 + abs(objective)))
        if error < best:
            best, best_wb, since_best = error, wb.copy(), 0
        else:
            since_best += 1
        if best <= TOLERANCE or (best <= REDUCED_TOLERANCE and since_best == STALLED):
            break
        theta = 1.0 / (xi / mu + t / lam)
        e = 1.0 + (t * mu) / (lam * xi)
        B = A.T * np.sqrt(theta)
        M = B @ B.T  # numpy computes one triangle (BLAS syrk): half the work of A.T @ (theta * A)
        M[np.arange(d), np.arange(d)] += 1.0
        solve = _normal_solver(M)

        def direction(rc1: np.ndarray, rc2: np.ndarray) -> tuple[np.ndarray, ...]:
            """The Newton step (dwb, dxi, dlam, dmu, dt) with t*dlam + lam*dt = -rc1 and xi*dmu + mu*dxi = -rc2."""
            h = -r_p - rc1 / lam - (t / lam) * (r_xi + rc2 / xi)
            g = r_xi + rc2 / xi + theta * h
            dwb = solve(A.T @ (s * g) - r_wb)
            du = s * (A @ dwb)
            dlam = g - theta * du
            dxi = (h - du) / e
            return dwb, dxi, dlam, r_xi - dlam, du + dxi + r_p  # dwb, dxi, dlam, dmu, dt

        affine = direction(lam * t, mu * xi)
        alpha = _step_to_boundary((xi, lam, mu, t), affine[1:])
        mean = gap / (2 * K)
        affine_mean = ((lam + alpha * affine[2]) @ (t + alpha * affine[4])
                       + (mu + alpha * affine[3]) @ (xi + alpha * affine[1])) / (2 * K)
        target = (affine_mean / mean) ** 3 * mean
        dwb, dxi, dlam, dmu, dt = direction(lam * t + affine[2] * affine[4] - target,
                                            mu * xi + affine[3] * affine[1] - target)
        alpha = min(1.0, STEP * _step_to_boundary((xi, lam, mu, t), (dxi, dlam, dmu, dt)))
        wb += alpha * dwb
        xi += alpha * dxi
        lam += alpha * dlam
        mu += alpha * dmu
        t += alpha * dt
    if best > REDUCED_TOLERANCE:
        raise PrimalNotSolved(f"the primal SVM problem ({K} rows, {d} features, C={C}) reached a relative error of "
                              f"{best:.1e}, above {REDUCED_TOLERANCE}, in {MAX_ITERATIONS} interior-point iterations")
    return best_wb[:d], float(best_wb[d])


def binary_svc(X: np.ndarray, s: np.ndarray, C: float) -> tuple[np.ndarray, float]:
    """(w, b) of the soft-margin SVM on rows X with labels s in {-1, +1}."""
    return hinge_qp(X, s, np.ones(len(s)), C)


def svr(X: np.ndarray, y: np.ndarray, C: float, epsilon: float = EPSILON) -> tuple[np.ndarray, float]:
    """(w, b) of the epsilon-insensitive SVR on rows X with targets y: two hinge rows per clip,
    w.x + b >= y - eps - xi and -(w.x + b) >= -y - eps - xi*."""
    n = len(y)
    return hinge_qp(np.vstack([X, X]), np.r_[np.ones(n), -np.ones(n)], np.r_[y - epsilon, -y - epsilon], C)


def pairs(n_classes: int) -> list[tuple[int, int]]:
    """The one-vs-one pairs (i, j), i < j, in libsvm's order (that of scikit-learn's n_iter_ and 'ovo' decisions)."""
    return list(itertools.combinations(range(n_classes), 2))


def pair_decision(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, C: float, first: float,
                  second: float) -> np.ndarray:
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
