"""libsvm's one-vs-one fits with the training clips in index order against grouped by class.

For one fold of one (task, feature set) cell on the authors' released features, every rbf
candidate of the grid (scaler off and on, 6 gammas, 4 C) is fitted twice on the same
kernel values: once with the training clips in index order (the evaluation before
``evaluate._grouped``) and once grouped by class (now). Candidates go ``--threads`` at a
time (each in its own thread, as the grid's units run); the two orders of a group run back
to back, in alternating order (index order first for even groups), so that drifts of the
host's speed fall on both. The script checks that both give the same predictions and
prints the seconds of each, their ratio and the median and range of the groups' ratios.

Usage: .venv/bin/python bench/grouped_fits.py [--task urbansound] [--features convnet:1] [--fold 0] [--threads 2]
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from sklearn import config_context
from threadpoolctl import threadpool_limits

from mirtransfer.evaluate import Scratch, _bases, _fit_predict, _fold_bases, _grouped, _kernel, paper_grid
from mirtransfer.reproduction import TASKS, feature_matrix, task_folds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "choi2017")
    parser.add_argument("--task", default="urbansound", choices=[t for t in TASKS if TASKS[t]["kind"] == "classification"])
    parser.add_argument("--features", default="convnet:1")
    parser.add_argument("--fold", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="candidates fitted at once, as the grid's parallel units")
    args = parser.parse_args()

    X = np.asarray(feature_matrix(args.root, args.task, args.features), dtype=np.float64)
    labels, folds = task_folds(args.root, args.task, legacy=False)
    y = np.unique(labels, return_inverse=True)[1].astype(np.float64)
    orders = {"index": folds[args.fold], "grouped": _grouped(folds[args.fold], y)}
    rbf = [c for c in paper_grid() if c.kernel == "rbf" and c.gamma != "auto"]
    groups = [rbf[i:i + args.threads] for i in range(0, len(rbf), args.threads)]
    seconds: dict[str, list[float]] = {name: [] for name in orders}
    with (threadpool_limits(limits=1, user_api="blas"),
          config_context(assume_finite=True, skip_parameter_validation=True),
          ThreadPoolExecutor(args.threads) as pool):
        scratch = Scratch()
        full = _bases(X, X, {"rbf"}, scratch)
        bases = {(name, scale): _fold_bases(X, fold, scale, {"rbf"}, full, scratch)
                 for name, fold in orders.items() for scale in (False, True)}
        for i, group in enumerate(groups):
            predicted = {}
            for name in (list(orders) if i % 2 == 0 else list(orders)[::-1]):
                (base, rows), y_train = bases[(name, group[0].scale)], y[orders[name][0]]
                kernels = [tuple(_kernel(c.gamma, b, X.shape[1], scratch) for b in base["rbf"]) for c in group]  # not timed
                t0 = time.perf_counter()
                predicted[name] = list(pool.map(lambda ck: _fit_predict(ck[1], rows, y_train, ck[0], "classification", True)[0],
                                                zip(group, kernels)))
                seconds[name].append(time.perf_counter() - t0)
                scratch.give(*(m for pair in kernels for m in pair))
            same = all(np.array_equal(a, b) for a, b in zip(predicted["index"], predicted["grouped"]))
            print(f"{[c.params() for c in group]}: index {seconds['index'][-1]:.2f} s, grouped {seconds['grouped'][-1]:.2f} s,"
                  f" same predictions: {same}", flush=True)
            assert same, "grouping changed a fit"
    total = {name: sum(seconds[name]) for name in orders}
    ratios = [a / b for a, b in zip(seconds["index"], seconds["grouped"])]
    print(f"{args.task} {args.features} fold {args.fold}: {len(X)} clips, {len(folds[args.fold][0])} training, "
          f"{len(rbf)} rbf candidates, {args.threads} at a time: index order {total['index']:.1f} s, grouped {total['grouped']:.1f} s, "
          f"{total['index'] / total['grouped']:.2f}x (median per group {np.median(ratios):.2f}x, "
          f"range {min(ratios):.2f} to {max(ratios):.2f}); every prediction identical")


if __name__ == "__main__":
    main()
