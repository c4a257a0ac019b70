"""The score stage's wall time against its cells' SVM work, one job per task vs one job per cell.

Run it in a workspace whose workflow has run (``make demo`` for the demo): it reruns only
the score jobs of every existing ``results/scores/<task>/<set>.json``, first with
``evaluation.jobs: cell`` (one job per cell), then with ``jobs: task`` (each task's cells
in one job, the default, so the workspace ends as it was), and prints for each the Snakemake run's wall time, the same less
Snakemake's own start-up (a dry run's time), the sum of the cells' ``seconds`` (their
SVM work, as each cell's JSON records it) and the ratios. With N cores the cells can run
N at a time, so the ideal wall time is the sum / N.

Usage: .venv/bin/python bench/score_overhead.py [--workdir .] [--configfile config/config.yaml] [--cores 2]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(REPO / ".venv" / "bin" / "snakemake")


def snakemake(workdir: Path, configfile: str, cores: int, targets: list[str], *args: str) -> float:
    """Run Snakemake in workdir on targets; its wall time in seconds (an error stops the benchmark).

    The targets come first: --quiet, --forcerun and --config take every word that follows them.
    """
    t0 = time.perf_counter()
    subprocess.run([SNAKEMAKE, *targets, "-s", str(REPO / "Snakefile"), "--directory", str(workdir),
                    "--cores", str(cores), "--configfile", configfile, "--quiet", "all", *args], check=True)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", type=Path, default=REPO)
    parser.add_argument("--configfile", default="config/config.yaml")
    parser.add_argument("--results", default="results")
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()

    cells = sorted(p for p in (args.workdir / args.results / "scores").glob("*/*.json"))
    if not cells:
        raise SystemExit(f"no score cells under {args.workdir / args.results / 'scores'}; run the workflow first")
    targets = [str(p.relative_to(args.workdir)) for p in cells]
    startup = snakemake(args.workdir, args.configfile, args.cores, targets, "-n")
    print(f"{len(cells)} cells in {len({p.parent for p in cells})} tasks, {args.cores} cores; "
          f"Snakemake's start-up (a dry run): {startup:.1f} s")
    for jobs, rule in (("cell", "score"), ("task", "score_task")):  # task last: the default, as the workspace was
        wall = snakemake(args.workdir, args.configfile, args.cores, targets, "--forcerun", rule,
                         "--config", f'evaluation={{"jobs": "{jobs}"}}')
        work = sum(json.loads(p.read_text())["seconds"] for p in cells)
        print(f"jobs: {jobs:4s}  wall {wall:6.1f} s (less start-up {wall - startup:6.1f} s)  cells' SVM work {work:6.1f} s  "
              f"ratio {(wall - startup) / work:.2f} (x {args.cores} cores: {(wall - startup) * args.cores / work:.2f})")


if __name__ == "__main__":
    main()
