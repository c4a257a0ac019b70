"""The workflow's evaluation of every published task, timed, on the authors' released features.

Each of the seven tasks of Choi et al. is scored as the workflow scores a (task, feature
set) cell: its grid (scaler off and on, 64 candidates), bounded fits, its protocol with
today's folds (``reproduction.task_folds(legacy=False)``), in paper mode and, with
``--mode nested`` or ``both``, nested mode. The authors' features (``data_feats/``) stand in
for extracted ones: the same clips and dimensions. Cells per task: the 31 layer
combinations, ``mfcc`` and ``mfcc+convnet:12345`` (33; urbansound's MFCCs are not released).

Each finished cell is appended to ``--out`` at once, with the commit of the code that ran
it and the time it finished (to tell which cells shared the machine with other work), and
cells already there are not run again, so an interrupted run resumes. The default,
bench/results/paper_evaluation.csv, is committed: the full run (5.9 hours in paper mode on 2
cores) can span sessions. At the end the script prints, per task and mode, the cells,
their total and the slowest cell with its share, and for paper mode the largest
difference from the published score. ``--unbounded-seconds N`` also runs each paper-mode
cell with libsvm unbounded (as the reproduction does) in a child process for at most N
seconds, and where it finishes records whether the bounded grid chose the same candidate
and the difference of the two scores.

Usage:
  .venv/bin/python bench/paper_evaluation.py                       # all tasks, paper mode
  .venv/bin/python bench/paper_evaluation.py --task emoMusic_a --features mfcc
  .venv/bin/python bench/paper_evaluation.py --task gtzan_genre --mode both --unbounded-seconds 600
"""

from __future__ import annotations

import argparse
import itertools
import json
import multiprocessing
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mirtransfer.evaluate import evaluate
from mirtransfer.reproduction import TASKS, feature_matrix, published_scores, task_folds

COLUMNS = ["task", "features", "mode", "score", "published", "seconds", "fits_run", "libsvm", "primal", "capped",
           "shared", "best_params", "unbounded_score", "unbounded_seconds", "same_candidate", "commit", "finished"]


def feature_sets() -> list[str]:
    """The 31 layer combinations, mfcc and mfcc+convnet:12345."""
    combos = ["convnet:" + "".join(map(str, c)) for r in range(1, 6) for c in itertools.combinations(range(1, 6), r)]
    return combos + ["mfcc", "mfcc+convnet:12345"]


def _unbounded(root: str, task: str, features: str, jobs: int, queue: multiprocessing.Queue) -> None:
    """Child process: the paper-mode evaluation with libsvm run to its end."""
    y, folds = task_folds(root, task, legacy=False)
    result = evaluate(feature_matrix(root, task, features), y, folds, TASKS[task]["kind"], n_jobs=jobs, bounded=False)
    queue.put((result["score"], result["best_params"], result["seconds"]))


def unbounded_cell(root: Path, task: str, features: str, jobs: int, limit: float) -> tuple[float, dict, float] | None:
    """(score, best_params, seconds) of the unbounded evaluation, None when it ran past ``limit`` seconds."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    child = context.Process(target=_unbounded, args=(str(root), task, features, jobs, queue))
    child.start()
    child.join(limit)
    if child.is_alive():
        child.terminate()
        child.join()
        return None
    return queue.get()


def commit() -> str:
    """The checked-out commit, marked '+' when the package or this script differ from it.

    Taken once at start: the code a run loaded, whatever the working tree becomes during it
    (except the unbounded runs of --unbounded-seconds: each is a fresh process that imports
    the package as it is then, so keep the tree still while they run).
    """
    here = Path(__file__).parent
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=here, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "../src", "paper_evaluation.py"], cwd=here,
                           capture_output=True, text=True).stdout.strip()
    return head + ("+" if dirty else "")


def run_cell(root: Path, task: str, features: str, mode: str, jobs: int, published: float | None,
             unbounded_seconds: float, code: str) -> dict | None:
    """One cell's row of the results table (``code``: the commit loaded); None when its features are not released."""
    X = feature_matrix(root, task, features)
    if X is None:
        return None
    y, folds = task_folds(root, task, legacy=False)
    t0 = time.perf_counter()
    result = evaluate(X, y, folds, TASKS[task]["kind"], mode=mode, n_jobs=jobs)
    row = {"task": task, "features": features, "mode": mode, "score": result["score"], "published": published,
           "seconds": time.perf_counter() - t0, "fits_run": result["fits"]["run"], **result["solvers"],
           "best_params": json.dumps(result["best_params"]), "unbounded_score": np.nan, "unbounded_seconds": np.nan,
           "same_candidate": None, "commit": code,
           "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    if unbounded_seconds > 0 and mode == "paper":
        other = unbounded_cell(root, task, features, jobs, unbounded_seconds)
        if other is None:
            row["unbounded_seconds"] = float("inf")
        else:
            row.update(unbounded_score=other[0], unbounded_seconds=other[2],
                       same_candidate=other[1] == result["best_params"])
    return row


def report(table: pd.DataFrame) -> None:
    """Per task and mode: cells, total, slowest cell and share; paper mode: the largest |score - published|."""
    for (task, mode), rows in table.groupby(["task", "mode"], sort=False):
        slowest = rows.loc[rows["seconds"].idxmax()]
        total = rows["seconds"].sum()
        line = (f"{task:18s} {mode:6s} {len(rows):3d} cells  {total / 60:6.1f} min  slowest {slowest['features']} "
                f"{slowest['seconds']:.0f} s ({slowest['seconds'] / total:.0%})  primal fits {int(rows['primal'].sum())}"
                f"  capped {int(rows['capped'].sum())}")
        if mode == "paper":
            diff = (rows["score"] - rows["published"]).abs()
            if diff.notna().any():
                worst = rows.loc[diff.idxmax()]
                line += f"  max |score - published| {diff.max():.4f} ({worst['features']})"
            checked = rows[rows["same_candidate"].notna()]
            if len(checked):
                line += (f"  unbounded finished on {len(checked)}: same candidate {int(checked['same_candidate'].astype(bool).sum())}, "
                         f"max |diff| {(checked['score'] - checked['unbounded_score']).abs().max():.2e}")
        print(line)
    print(f"all: {len(table)} cells, {table['seconds'].sum() / 3600:.2f} h of wall time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "choi2017")
    parser.add_argument("--task", action="append", choices=sorted(TASKS), help="repeatable; default: all seven")
    parser.add_argument("--features", action="append", help="repeatable; default: the 33 sets")
    parser.add_argument("--mode", choices=["paper", "nested", "both"], default="paper")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--unbounded-seconds", type=float, default=0.0)
    parser.add_argument("--out", type=Path, default=Path("bench/results/paper_evaluation.csv"))
    args = parser.parse_args()

    args.out.parent.mkdir(parents=True, exist_ok=True)
    published = published_scores(args.root).set_index(["task", "features"])["score"]
    done = pd.read_csv(args.out) if args.out.exists() else pd.DataFrame(columns=COLUMNS)
    if list(done.columns) != COLUMNS:  # columns added since the file was begun stay empty
        done = done.reindex(columns=COLUMNS)
        done.to_csv(args.out, index=False)
    keys = set(zip(done["task"], done["features"], done["mode"]))
    code = commit()
    modes = ["paper", "nested"] if args.mode == "both" else [args.mode]
    tasks = args.task or list(TASKS)
    for task, features, mode in itertools.product(tasks, args.features or feature_sets(), modes):
        if (task, features, mode) in keys:
            continue
        row = run_cell(args.root, task, features, mode, args.jobs, published.get((task, features)),
                       args.unbounded_seconds, code)
        if row is None:
            print(f"{task} {features}: features not released, skipped", flush=True)
            continue
        pd.DataFrame([row], columns=COLUMNS).to_csv(args.out, mode="a", header=not args.out.exists(), index=False)
        print(f"{task} {features} {mode}: {row['score']:.4f} (published {row['published']}) {row['seconds']:.1f} s, "
              f"solvers libsvm {row['libsvm']} primal {row['primal']} capped {row['capped']}"
              + (f", unbounded {row['unbounded_score']:.4f} in {row['unbounded_seconds']:.0f} s"
                 if np.isfinite(row["unbounded_seconds"]) else
                 ", unbounded ran past the limit" if args.unbounded_seconds > 0 and mode == "paper" else ""), flush=True)
    table = pd.read_csv(args.out)
    report(table[table["task"].isin(tasks) & table["mode"].isin(modes)
                 & (table["features"].isin(args.features) if args.features else True)])


if __name__ == "__main__":
    main()
