"""Where the reproduction's time goes: per-task totals from the cells' Snakemake benchmarks.

Reads ``benchmarks/reproduction/<task>/<features>.tsv`` (written by rule
``reproduction_cell``) of a run, and prints per task the cells measured, their summed
and longest times and their peak memory, then the whole run's CPU time. A run on N
cores of one machine cannot take less than max(longest cell, total / N); on a cluster
with a node per cell, the longest cell bounds the wall time.

Usage: .venv/bin/python bench/reproduction_times.py [--dir benchmarks/reproduction] [--cores 2 16]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd


def cell_times(folder: Path) -> pd.DataFrame:
    """task, features, seconds, max_rss (MB) of every benchmarked cell."""
    rows = []
    for path in sorted(folder.glob("*/*.tsv")):
        bench = pd.read_csv(path, sep="\t")
        rows.append({"task": path.parent.name, "features": path.stem, "seconds": float(bench["s"].iloc[0]),
                     "max_rss_mb": float(bench["max_rss"].iloc[0])})
    if not rows:
        raise FileNotFoundError(f"no cell benchmark under {folder}; run the reproduction first")
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=Path("benchmarks/reproduction"))
    parser.add_argument("--cores", type=int, nargs="+", default=[2, 16])
    args = parser.parse_args()
    cells = cell_times(args.dir)
    per_task = cells.groupby("task").agg(cells=("seconds", "size"), total_s=("seconds", "sum"),
                                         longest_s=("seconds", "max"), max_rss_mb=("max_rss_mb", "max"))
    per_task["longest_cell"] = cells.loc[cells.groupby("task")["seconds"].idxmax()].set_index("task")["features"]
    print(per_task.round(1).to_string())
    total, longest = cells["seconds"].sum(), cells["seconds"].max()
    print(f"\n{len(cells)} cells, {total:.0f} s of cell time, longest {longest:.0f} s")
    for n in args.cores:
        print(f"lower bound on {n} cores: {max(longest, total / n):.0f} s")


if __name__ == "__main__":
    main()
