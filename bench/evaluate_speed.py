"""The paper's full grid on one (task, feature set) cell: the project's grid vs a plain GridSearchCV.

All three run in one process on the same data and folds with the same number of workers:
the project's grid with every fit, the same with pruning (the mode the workflow uses) and
scikit-learn's GridSearchCV, libsvm unbounded in all three (bench/paper_evaluation.py times the
bounded grid). The script checks that every scored candidate's
fold-size-weighted score agrees with the plain search, that pruning never dropped a best
candidate, and prints the speed ratios. Data: the authors' released features (../shared/choi2017 by default).

Usage: .venv/bin/python bench/evaluate_speed.py [--task gtzan_genre] [--features convnet:12345] [--jobs 2]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC, SVR

from mirtransfer.evaluate import C_VALUES, GAMMA_EXPONENTS, best_index, grid_scores, weighted_means
from mirtransfer.reproduction import TASKS, feature_matrix, task_folds


def plain_grid_search(X: np.ndarray, y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]], kind: str,
                      jobs: int) -> dict[tuple, float]:
    """Each candidate's size-weighted fold mean from scikit-learn's own GridSearchCV (the reference timing)."""
    gammas = [0.5**e for e in GAMMA_EXPONENTS] + ["auto"]
    grid = []
    for scaler in ("passthrough", StandardScaler()):
        grid.append({"scaler": [scaler], "svm__kernel": ["rbf"], "svm__C": list(C_VALUES), "svm__gamma": gammas})
        grid.append({"scaler": [scaler], "svm__kernel": ["linear"], "svm__C": list(C_VALUES)})
    pipe = Pipeline([("scaler", "passthrough"), ("svm", SVC() if kind == "classification" else SVR())])
    search = GridSearchCV(pipe, grid, cv=folds, n_jobs=jobs, refit=False).fit(X, y)
    sizes = np.array([len(te) for _, te in folds], dtype=float)
    scores = {}
    for i, p in enumerate(search.cv_results_["params"]):
        split = np.array([search.cv_results_[f"split{f}_test_score"][i] for f in range(len(folds))])
        scores[(not isinstance(p["scaler"], str), p["svm__kernel"], p["svm__C"], p.get("svm__gamma"))] = split @ sizes / sizes.sum()
    return scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default=str(Path(__file__).resolve().parents[2] / "shared" / "choi2017"))
    parser.add_argument("--task", default="gtzan_genre", choices=sorted(TASKS))
    parser.add_argument("--features", default="convnet:12345")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    kind = TASKS[args.task]["kind"]
    X = feature_matrix(args.root, args.task, args.features)
    y, folds = task_folds(args.root, args.task)

    t0 = time.perf_counter()
    candidates, full_table, _ = grid_scores(X, y, folds, kind, n_jobs=args.jobs, bounded=False)
    full_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    _, pruned_table, _ = grid_scores(X, y, folds, kind, n_jobs=args.jobs, prune=True, bounded=False)
    pruned_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    theirs = plain_grid_search(X, y, folds, kind, args.jobs)
    theirs_s = time.perf_counter() - t0

    keys = [(c.scale, c.kernel, c.C, c.gamma) for c in candidates]
    plain = np.array([theirs[k] for k in keys])
    full = weighted_means(full_table, folds)
    pruned = weighted_means(pruned_table, folds)
    scored = np.isfinite(pruned)
    differ = [(c, a, b) for c, a, b in zip(candidates, full, plain) if abs(a - b) > 1e-12]
    differ_pruned = [(c, a, b) for c, a, b, ok in zip(candidates, pruned, plain, scored) if ok and abs(a - b) > 1e-12]
    wrongly_pruned = int((~scored & (plain >= plain.max())).sum())
    best = best_index(pruned_table, folds)
    print(f"{args.task} {args.features}: {X.shape[0]} clips x {X.shape[1]} features, {len(folds)} folds, "
          f"{len(candidates)} candidates, {args.jobs} workers")
    print(f"  plain GridSearchCV      {theirs_s:7.2f} s   best {plain.max():.6f} {candidates[int(np.argmax(plain))]}")
    print(f"  project grid, all fits  {full_s:7.2f} s   best {full.max():.6f}   {theirs_s / full_s:.1f}x")
    print(f"  project grid, pruned    {pruned_s:7.2f} s   best {pruned[best]:.6f} {candidates[best]}   {theirs_s / pruned_s:.1f}x; "
          f"{int(np.isfinite(pruned_table).sum())} of {pruned_table.size} fits")
    print(f"  candidates whose score differs from the plain search: {len(differ)} (all fits), {len(differ_pruned)} (pruned run); "
          f"best candidates pruned: {wrongly_pruned}")
    for c, a, b in differ + differ_pruned:
        print(f"    {c}: {a:.6f} vs {b:.6f} (diff {a - b:+.2e})")

if __name__ == "__main__":
    main()
