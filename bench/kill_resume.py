"""Kill the workflow at three points (spectrograms, training, scores), resume, and compare with an
uninterrupted run of the same narrowed demo config.

Run by hand: ``.venv/bin/python bench/kill_resume.py [--workdir DIR]``. Each kill is a SIGKILL of
Snakemake's whole process group (as a lost node or ``kill -9`` would); each resume is
``snakemake --unlock`` then the same command. Prints what each resume reran and whether the final
outputs equal the uninterrupted run's.
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
    ("spectrograms", "logs/demo_voice/mel/melspec-000.log"),
    ("training", "results/models/convnet/checkpoint.pt"),
    ("scores", "logs/scores/genre/convnet:12345.log"),
]


def write_config(workdir: Path) -> None:
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config.update(
        frontend={**config["frontend"], "duration": 2.0},
        demo={"root": "resources/demo", "seed": 5, "n_source": 80, "n_target": 40, "clip_seconds": 2.0},
        models={"convnet": {"dataset": "demo_tags", "n_tags": 12, "epochs": 4, "patience": 4, "batch_size": 8}},
        extractors={"convnet": {"model": "convnet", "weights": "trained"},
                    "random": {"model": "convnet", "weights": "random", "seed": 1}},
        evaluation={"mode": "paper", "feature_sets": ["convnet:12345", "convnet:5", "random:12345", "mfcc"]},
    )
    config.pop("tagging")
    (workdir / "config").mkdir(parents=True, exist_ok=True)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config))


def run(workdir: Path, kill_when: str | None = None) -> tuple[str, float]:
    """Run the workflow; with kill_when, SIGKILL its process group once that file exists."""
    t0 = time.perf_counter()
    proc = subprocess.Popen([*SNAKEMAKE, "--directory", str(workdir)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)
    if kill_when is None:
        out, _ = proc.communicate()
        return out, time.perf_counter() - t0
    while proc.poll() is None and not (workdir / kill_when).exists():
        time.sleep(0.2)
    time.sleep(1.0)  # let the job get going
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    base = args.workdir or Path(tempfile.mkdtemp(prefix="kill_resume_"))
    full, cut = base / "uninterrupted", base / "killed"
    for d in (full, cut):
        write_config(d)
    _, seconds = run(full)
    print(f"uninterrupted run: {seconds:.0f} s")
    for stage, marker in KILL_POINTS:
        _, seconds = run(cut, kill_when=marker)
        unlock = subprocess.run([*SNAKEMAKE, "--directory", str(cut), "--unlock"], capture_output=True, text=True)
        dry = subprocess.run([*SNAKEMAKE, "--directory", str(cut), "-n"], capture_output=True, text=True)
        print(f"killed during {stage} after {seconds:.0f} s; unlock rc {unlock.returncode}; "
              f"the rerun plans {jobs(dry.stdout + dry.stderr)}")
    out, seconds = run(cut)
    print(f"final resume: {seconds:.0f} s, rc-equivalent: {'Nothing to be done' not in out}")
    a = pd.read_csv(full / "results/summary/scores.csv").set_index(["task", "feature_set"])["score"]
    b = pd.read_csv(cut / "results/summary/scores.csv").set_index(["task", "feature_set"])["score"]
    wa = torch.load(full / "results/models/convnet/model.pt", weights_only=True)
    wb = torch.load(cut / "results/models/convnet/model.pt", weights_only=True)
    stale = [str(p) for p in cut.rglob(".*.tmp-*")]
    print(f"scores equal: {a.equals(b.reindex(a.index))} ({len(a)} cells, max |diff| {(a - b.reindex(a.index)).abs().max():.2e})")
    print(f"model weights equal: {all(torch.equal(wa[k], wb[k]) for k in wa)}")
    print(f"checkpoint left: {(cut / 'results/models/convnet/checkpoint.pt').exists()}; stale temporaries: {stale}")


if __name__ == "__main__":
    main()
