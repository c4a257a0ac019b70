"""libsvm's one-vs-one fits with the training clips in index order against grouped by class.

For one fold of one (task, feature set) cell on the authors' released features, every rbf
candidate of the grid (scaler off and on, 6 gammas, 4 C) is fitted twice on the same
kernel values: once with the training clips in index order (the evaluation before
``evaluate._grouped``) and once grouped by class (now). The two fits of a candidate run
back to back, in alternating order (index order first for even candidates), on one thread,
so that drifts of the host's speed fall on both. The script checks that both give the same
predictions and prints the seconds of each, their ratio and the median of the candidates'
ratios.

Usage: .venv/bin/python bench/grouped_fits.py [--task urbansound] [--features convnet:1] [--fold 0]
"""

from __future__ import annotations

import argparse
import time
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
    args = parser.parse_args()

    X = np.asarray(feature_matrix(args.root, args.task, args.features), dtype=np.float64)
    labels, folds = task_folds(args.root, args.task, legacy=False)
    y = np.unique(labels, return_inverse=True)[1].astype(np.float64)
    orders = {"index": folds[args.fold], "grouped": _grouped(folds[args.fold], y)}
    rbf = [c for c in paper_grid() if c.kernel == "rbf" and c.gamma != "auto"]
    seconds = {name: [] for name in orders}
    with threadpool_limits(limits=1, user_api="blas"), config_context(assume_finite=True, skip_parameter_validation=True):
        scratch = Scratch()
        full = _bases(X, X, {"rbf"}, scratch)
        bases = {(name, scale): _fold_bases(X, fold, scale, {"rbf"}, full, scratch)
                 for name, fold in orders.items() for scale in (False, True)}
        kernels: dict[tuple, tuple] = {}
        for i, cand in enumerate(rbf):
            for name in (list(orders) if i % 2 == 0 else list(orders)[::-1]):
                key = (name, cand.scale, cand.gamma)
                if key not in kernels:  # one kernel per gamma, kept for its 4 C (not timed)
                    for old in [k for k in kernels if k[0] == name]:
                        scratch.give(*kernels.pop(old))
                    base = bases[(name, cand.scale)][0]["rbf"]
                    kernels[key] = tuple(_kernel(cand.gamma, b, X.shape[1], scratch) for b in base)
                rows = bases[(name, cand.scale)][1]
                t0 = time.perf_counter()
                predicted, _ = _fit_predict(kernels[key], rows, y[orders[name][0]], cand, "classification", True)
                seconds[name].append((time.perf_counter() - t0, predicted))
            same = np.array_equal(seconds["index"][-1][1], seconds["grouped"][-1][1])
            print(f"{cand.params()}: index {seconds['index'][-1][0]:.2f} s, grouped {seconds['grouped'][-1][0]:.2f} s,"
                  f" same predictions: {same}", flush=True)
            assert same, "grouping changed a fit"
    total = {name: sum(s for s, _ in seconds[name]) for name in orders}
    ratios = [a / b for (a, _), (b, _) in zip(seconds["index"], seconds["grouped"])]
    print(f"{args.task} {args.features} fold {args.fold}: {len(X)} clips, {len(folds[args.fold][0])} training, "
          f"{len(rbf)} rbf candidates on one thread: index order {total['index']:.1f} s, grouped {total['grouped']:.1f} s, "
          f"{total['index'] / total['grouped']:.2f}x (candidates' median {np.median(ratios):.2f}x, "
          f"range {min(ratios):.2f} to {max(ratios):.2f}); every prediction identical")


if __name__ == "__main__":
    main()
