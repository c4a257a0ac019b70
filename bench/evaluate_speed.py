"""The paper's full grid on one (task, feature set) cell: the project's grid vs a plain GridSearchCV.

Both run in one process on the same data and folds with the same number of workers;
the script checks that every candidate's fold-size-weighted score agrees and prints the
speed ratio. Data: the authors' released features (../shared/choi2017 by default).

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

from mirtransfer.evaluate import C_VALUES, GAMMA_EXPONENTS, grid_scores, weighted_means
from mirtransfer.reproduction import TASKS, feature_matrix, task_folds


def plain_grid_search(X, y, folds, kind, jobs):
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
    X = feature_matrix(args.root, TASKS[args.task]["dataset"], args.features)
    y, folds = task_folds(args.root, args.task)

    t0 = time.perf_counter()
    candidates, table = grid_scores(X, y, folds, kind, n_jobs=args.jobs)
    ours_s = time.perf_counter() - t0
    ours = dict(zip(candidates, weighted_means(table, folds)))
    t0 = time.perf_counter()
    theirs = plain_grid_search(X, y, folds, kind, args.jobs)
    theirs_s = time.perf_counter() - t0

    differ = [(c, s, theirs[(c.scale, c.kernel, c.C, c.gamma)]) for c, s in ours.items()
              if abs(s - theirs[(c.scale, c.kernel, c.C, c.gamma)]) > 1e-12]
    print(f"{args.task} {args.features}: {X.shape[0]} clips x {X.shape[1]} features, {len(folds)} folds, "
          f"{len(candidates)} candidates, {args.jobs} workers")
    print(f"  project grid      {ours_s:8.2f} s   best {max(ours.values()):.6f}")
    print(f"  plain GridSearchCV {theirs_s:7.2f} s   best {max(theirs.values()):.6f}")
    print(f"  speed-up {theirs_s / ours_s:.1f}x; candidates whose score differs: {len(differ)}")
    for c, a, b in differ:
        print(f"    {c}: {a:.6f} vs {b:.6f} (diff {a - b:+.2e})")


if __name__ == "__main__":
    main()
