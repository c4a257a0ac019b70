"""The authors' grid with bounded fits, for published cells whose unbounded run takes hours.

The reproduction (rule ``reproduction_cell``) runs the authors' grid as it ran: libsvm
to its end on every candidate, the linear kernel on unscaled MFCCs included, where one
fit can take hours. This bench scores such a cell on the same features, targets, legacy
folds and unscaled candidates, but with the workflow's bounded fits: linear candidates
that libsvm does not finish in ``LINEAR_SWITCH`` iterations are solved in the primal, to
the same problem's optimum. Every candidate is scored on every fold (no pruning), so the
table gives the best rbf candidate's score (``best_rbf``) and the best and second-best
linear candidates' (``best_linear``, ``next_linear``).

What it tells: the rbf candidates are fitted by libsvm to its end, as in the authors'
grid, so ``best_rbf`` is their grid's score for them (unless ``capped_fits`` counts a fit
stopped at the safety cap). The linear scores are the optima of those problems, where the
authors' libsvm stopped at its tolerance of 1e-3 short of them. When the winner is a linear
candidate solved in the primal, ``--unbounded-winner`` also fits that one candidate with
libsvm run to its end on every fold (``winner_libsvm``): the score the authors' grid gave
it. This is evidence about the published score, not a reproduction: that stays the rule's job.

Usage:
  .venv/bin/python bench/reproduction_bounded.py                  # the five unfinished cells
  .venv/bin/python bench/reproduction_bounded.py --cell gtzan_genre:mfcc --cell jamendo_vd:mfcc
  .venv/bin/python bench/reproduction_bounded.py --cell emoMusic_a:mfcc+convnet:12345 --unbounded-winner
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mirtransfer.evaluate import AUTHORS_SCALING, grid_scores, weighted_means
from mirtransfer.reproduction import TASKS, feature_matrix, published_scores, task_folds

# Published cells with released features whose reproduction was stopped after 45 to 100
# minutes without finishing (README, "The paper's table, reproduced").
UNFINISHED = ["ballroom_extended:mfcc", "emoMusic_a:mfcc", "emoMusic_v:mfcc",
              "emoMusic_a:mfcc+convnet:12345", "emoMusic_v:mfcc+convnet:12345"]


def bounded_cell(root: Path, task: str, features: str, jobs: int, unbounded_winner: bool) -> dict:
    """One cell under the authors' grid with bounded fits: the winner, its solvers, the best rbf and linear scores.

    unbounded_winner: where the winner was solved in the primal, refit it with libsvm unbounded.
    """
    X = feature_matrix(root, task, features)
    if X is None:
        raise FileNotFoundError(f"{task} {features}: features not in the released files under {root}")
    y, folds = task_folds(root, task)
    t0 = time.perf_counter()
    candidates, table, solvers = grid_scores(X, y, folds, TASKS[task]["kind"], jobs, scaling=AUTHORS_SCALING,
                                             prune=False, bounded=True)
    seconds = time.perf_counter() - t0
    means = weighted_means(table, folds)
    best = int(np.argmax(means))
    rbf = sorted((means[i] for i, c in enumerate(candidates) if c.kernel == "rbf"), reverse=True)
    linear = sorted((means[i] for i, c in enumerate(candidates) if c.kernel == "linear"), reverse=True)
    winner_libsvm, winner_seconds = np.nan, np.nan
    if unbounded_winner and "primal" in solvers[best]:
        t0 = time.perf_counter()
        _, alone, _ = grid_scores(X, y, folds, TASKS[task]["kind"], jobs, candidates=[candidates[best]], bounded=False)
        winner_libsvm, winner_seconds = float(weighted_means(alone, folds)[0]), time.perf_counter() - t0
    return {"task": task, "features": features, "score": float(means[best]),
            "best_params": json.dumps(candidates[best].params()),
            "best_solvers": "/".join(sorted(set(solvers[best]))),
            "best_rbf": float(rbf[0]), "best_linear": float(linear[0]), "next_linear": float(linear[1]),
            "primal_fits": int((solvers == "primal").sum()), "capped_fits": int((solvers == "capped").sum()),
            "seconds": seconds, "winner_libsvm": winner_libsvm, "winner_libsvm_seconds": winner_seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "choi2017")
    parser.add_argument("--cell", action="append", help="task:features, repeatable; default: the five unfinished")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--unbounded-winner", action="store_true", help="refit a primal winner with libsvm unbounded")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")  # the fits' per-fold progress

    published = published_scores(args.root).set_index(["task", "features"])["score"]
    rows = []
    for cell in args.cell or UNFINISHED:
        task, features = cell.split(":", 1)
        row = bounded_cell(args.root, task, features, args.jobs, args.unbounded_winner)
        row["published"] = float(published[task, features])
        row["diff"] = row["score"] - row["published"]
        rows.append(row)
        print(f"{task} {features}: {row['score']:.6f} (published {row['published']:.6f}), {row['seconds']:.0f} s",
              flush=True)
    print(pd.DataFrame(rows).round(6).to_string(index=False))


if __name__ == "__main__":
    main()
