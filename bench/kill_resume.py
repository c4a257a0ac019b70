"""Kill the workflow at three points (spectrograms, training, scores), resume, and compare with an
uninterrupted run of the same narrowed demo config.

Run by hand: ``.venv/bin/python bench/kill_resume.py [--workdir DIR]``. Each point is a run of its
own, from scratch: killed (SIGKILL of Snakemake's whole process group, as a lost node or
``kill -9`` would) while a job of that stage runs, then ``snakemake --unlock`` and the same
command again. Prints what each resume reran and whether its outputs equal the uninterrupted run's.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--cores", "2"]
# Kill when this file appears (relative to the workdir): a job of that stage is running.
KILL_POINTS = [
    ("spectrograms", "logs/demo_tags/mel/melspec-000.log", 1.0),
    ("training", "results/models/convnet/checkpoint.pt", 0.0),  # after its first epoch
    ("scores", "logs/scores/genre/convnet:12345.log", 0.5),
]


def write_config(workdir: Path) -> None:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config.update(
        frontend={**config["frontend"], "duration": 2.0},
        demo={"root": "resources/demo", "seed": 5, "n_source": 80, "n_target": 40, "clip_seconds": 2.0},
        models={"convnet": {"dataset": "demo_tags", "n_tags": 12, "epochs": 8, "patience": 8, "batch_size": 8}},
        extractors={"convnet": {"model": "convnet", "weights": "trained"},
                    "random": {"model": "convnet", "weights": "random", "seed": 1}},
        evaluation={"mode": "paper", "feature_sets": ["convnet:12345", "convnet:5", "random:12345", "mfcc"]},
    )
    config.pop("tagging")
    (workdir / "config").mkdir(parents=True, exist_ok=True)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config))


def run(workdir: Path, kill_when: str | None = None, delay: float = 0.0) -> tuple[str, float]:
    """Run the workflow; with kill_when, SIGKILL its process group ``delay`` s after that file appears."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([*SNAKEMAKE, "--directory", str(workdir)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    if kill_when is None:
        out, _ = proc.communicate()
        return out, time.perf_counter() - t0
    while proc.poll() is None and not (workdir / kill_when).exists():
        time.sleep(0.05)
    time.sleep(delay)
    if proc.poll() is not None:
        raise RuntimeError(f"the run ended before {kill_when} appeared: no kill")
    os.killpg(proc.pid, signal.SIGKILL)
    out, _ = proc.communicate()
    return out, time.perf_counter() - t0


def jobs(output: str) -> dict[str, int]:
    """Job counts from a Snakemake run's 'Job stats' table."""
    counts: dict[str, int] = {}
    for line in output.split("Job stats:")[-1].splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] not in ("total", "all"):
            counts[parts[0]] = int(parts[1])
    return counts


def same_outputs(full: Path, cut: Path) -> str:
    """Scores, model weights and leftovers of a resumed run against the uninterrupted one."""
    a = pd.read_csv(full / "results/summary/scores.csv").set_index(["task", "feature_set"])["score"]
    b = pd.read_csv(cut / "results/summary/scores.csv").set_index(["task", "feature_set"])["score"].reindex(a.index)
    wa = torch.load(full / "results/models/convnet/model.pt", weights_only=True)
    wb = torch.load(cut / "results/models/convnet/model.pt", weights_only=True)
    stale = [p.name for p in cut.rglob(".*.tmp-*")]
    return (f"scores equal: {a.equals(b)} ({len(a)} cells, max |diff| {(a - b).abs().max():.1e}); model weights "
            f"equal: {all(torch.equal(wa[k], wb[k]) for k in wa)}; checkpoint left: "
            f"{(cut / 'results/models/convnet/checkpoint.pt').exists()}; stale temporaries: {stale}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    base = args.workdir or Path(tempfile.mkdtemp(prefix="kill_resume_"))
    full = base / "uninterrupted"
    write_config(full)
    _, seconds = run(full)
    print(f"uninterrupted run: {seconds:.0f} s")
    for stage, marker, delay in KILL_POINTS:
        cut = base / f"killed-during-{stage}"
        write_config(cut)
        _, seconds = run(cut, kill_when=marker, delay=delay)
        unlock = subprocess.run([*SNAKEMAKE, "--directory", str(cut), "--unlock"], capture_output=True, text=True)
        dry = subprocess.run([*SNAKEMAKE, "--directory", str(cut), "-n"], capture_output=True, text=True)
        planned = jobs(dry.stdout + dry.stderr)
        out, rerun = run(cut)
        resumed = "resumed from" in (cut / "logs/models/convnet/train.log").read_text()
        print(f"killed during {stage} after {seconds:.0f} s; unlock rc {unlock.returncode}; the resume reran "
              f"{planned} in {rerun:.0f} s{' (training resumed from its checkpoint)' if resumed else ''}; "
              f"{same_outputs(full, cut)}")


if __name__ == "__main__":
    main()
