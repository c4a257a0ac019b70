"""The wall time of config/paper.yaml at MSD scale, projected from measured rates.

No data and no GPU needed: the rates below were measured by the project's benches (each
names its source) and are combined with the experiment's sizes (about 240,000 MSD
previews for training, the six target datasets, the five extractors and the score cells
of config/paper.yaml) into the time of each stage, for one node (N CPU cores, one GPU)
and for a SLURM cluster of M such nodes, with the bound of each stage.

The model, stated so that it can be checked:
- spectrograms: clips / (per-core rate x cores), per audio format; the target datasets
  are computed for three front ends (the config's, and each converted network's own);
- training: epochs x training clips / the GPU's end-to-end rate (one job: no cluster gain);
- extraction: clips x extractors / the GPU's end-to-end rate; the paper's network in its
  authors' mode (batch statistics) does about twice a forward pass's work, counted so;
- MFCCs: target clips / (per-core rate x cores);
- scores: the mean cell time per task measured by bench/paper_evaluation.py in the
  evaluation mode asked for (2 threads each; its committed results, CELL_SECONDS, paper
  mode, for tasks it has not run) times the 157 cells per task of config/paper.yaml,
  spread over the cores two threads at a time. config/paper.yaml runs mode paper; --mode
  nested projects the same config with `evaluation.mode: nested`;
- a cluster divides every stage but training by the nodes it can use.

Usage: .venv/bin/python bench/paper_projection.py [--cores 16] [--nodes 8] [--epochs 30]
       [--evaluation bench/results/paper_evaluation.csv]   # the default; another run's cell times
       [--mode paper|nested]   # the evaluation mode whose cell times are used (default paper)
       .venv/bin/python bench/paper_projection.py --measure-mfcc   # the MFCC rate of this machine
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

# Measured rates: value, unit, source.
MEASURED = "this project's 2-core machine, 2026-12-02"
RATES = {
    "mel_mp3": (20.2, "clips/s per core (29 s of 44.1 kHz stereo MP3)", f"bench/mel_throughput.py, 2 threads, {MEASURED}"),
    "mel_wav": (90.3, "clips/s per core (22.05 kHz mono WAV)", f"bench/mel_throughput.py, 2 threads, {MEASURED}"),
    "mel_au": (91.8, "clips/s per core (22.05 kHz mono AU)", f"bench/mel_throughput.py, 2 threads, {MEASURED}"),
    "mfcc": (99.4, "clips/s per core (librosa on 29 s at 12 kHz, decoding apart)", f"--measure-mfcc, {MEASURED}"),
    "train_gpu": (2207.0, "clips/s end to end, one H200, bf16, compiled, batch 32 (config/paper.yaml's)",
                  "bench/gpu_session.sh (train_throughput.py --compile), 2026-12-04"),
    "extract_gpu": (11866.0, "clips/s end to end, one H200, float32, compiled, batch 64",
                    "bench/gpu_session.sh (train_throughput.py --compile), 2026-12-04"),
    "extract_gpu_eager": (9714.0, "clips/s end to end, one H200, float32, eager, batch 64 (batchnorm: batch)",
                          "bench/gpu_session.sh (train_throughput.py), 2026-12-04"),
}
# Mean seconds per score cell (2 threads) from bench/paper_evaluation.py, MEASURED: all 33 cells of
# the first five tasks (emoMusic and jamendo_vd while other work shared the machine), 8 of
# ballroom_extended's 33 and 2 of urbansound's 32.
CELL_SECONDS = {"gtzan_speechmusic": 0.60, "gtzan_genre": 3.15, "emoMusic_a": 20.1, "emoMusic_v": 21.4,
                "jamendo_vd": 10.0, "ballroom_extended": 188.0, "urbansound": 452.0}
# The experiment's sizes (config/paper.yaml and the datasets' official counts).
MSD_PREVIEWS = 240_000  # about, all splits (README, datasets table)
MSD_TRAINING_CLIPS = 200_000  # about, the training split
TARGETS = {  # dataset: (clips, format)
    "ballroom_extended": (4_180, "mp3"), "gtzan_genre": (1_000, "au"), "gtzan_speech_music": (128, "wav"),
    "emomusic": (744, "mp3"), "jamendo_vocal": (4_086, "wav"), "urbansound8k": (8_732, "wav"),
}
FRONT_ENDS = 3  # the config's, choi2017's (kapre) and choi2017_paper's
# extractor: (forward passes' work, rate): the authors' batch mode runs eagerly (features.py), the others compiled.
EXTRACTORS = {"choi2017_paper": (2.0, "extract_gpu_eager"), "choi2017_paper_target": (2.0, "extract_gpu"),
              "convnet": (1.0, "extract_gpu"), "random": (1.0, "extract_gpu"), "choi2017": (1.0, "extract_gpu")}
CELLS_PER_TASK = 157  # 31 layer combinations x 5 extractors, mfcc, mfcc+choi2017_paper:12345


def measure_mfcc(clips: int = 20) -> None:
    """Print librosa's MFCC statistics rate on one core for 29 s of noise at 12 kHz."""
    import time

    import numpy as np
    from threadpoolctl import threadpool_limits

    from mirtransfer.mfcc import mfcc_statistics

    wave = np.random.default_rng(0).standard_normal(29 * 12000).astype(np.float32)
    mfcc_statistics(wave, 12000)  # librosa's first call compiles (numba)
    with threadpool_limits(1):
        t0 = time.perf_counter()
        for _ in range(clips):
            mfcc_statistics(wave, 12000)
    print(f"mfcc: {clips / (time.perf_counter() - t0):.1f} clips/s on one core")


def hours(seconds: float) -> str:
    return f"{seconds / 3600:7.2f} h"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cores", type=int, default=16)
    parser.add_argument("--nodes", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=30, help="training epochs (config: up to 100, early stopping)")
    parser.add_argument("--evaluation", type=Path, default=Path(__file__).parent / "results" / "paper_evaluation.csv",
                        help="a bench/paper_evaluation.py CSV; CELL_SECONDS for the tasks it lacks")
    parser.add_argument("--mode", choices=("paper", "nested"), default="paper",
                        help="evaluation mode whose cell times to use (config/paper.yaml: paper)")
    parser.add_argument("--measure-mfcc", action="store_true", help="measure the MFCC rate on this machine and stop")
    args = parser.parse_args()
    if args.measure_mfcc:
        measure_mfcc()
        return
    rate = {k: v for k, (v, _, _) in RATES.items()}
    target_clips = sum(n for n, _ in TARGETS.values())

    mel_core_s = sum(FRONT_ENDS * n / rate[f"mel_{fmt}"] for n, fmt in TARGETS.values()) + MSD_PREVIEWS / rate["mel_mp3"]
    # MFCCs of each clip's own audio: decoded again (counted at the MP3 spectrogram rate, the slowest), then librosa.
    mfcc_core_s = target_clips * (1 / rate["mel_mp3"] + 1 / rate["mfcc"])
    stages = {
        "spectrograms": (mel_core_s / args.cores, args.nodes, "CPU decoding and resampling"),
        "training": (args.epochs * MSD_TRAINING_CLIPS / rate["train_gpu"], 1, "one GPU job (model step; 2x at batch 128)"),
        "extraction": (target_clips * sum(work / rate[key] for work, key in EXTRACTORS.values()), min(args.nodes, 30),
                       "GPU (30 jobs: 6 datasets x 5 extractors)"),
        "mfcc": (mfcc_core_s / args.cores, args.nodes, "CPU (decoding, librosa)"),
    }
    per_cell = pd.Series(CELL_SECONDS)
    measured: list[str] = []
    if args.evaluation.exists():
        cells = pd.read_csv(args.evaluation)
        timed = cells[cells["mode"] == args.mode].groupby("task")["seconds"].agg(["mean", "size"])
        measured = [f"{task} ({int(n)} cells)" for task, n in timed["size"].items()]
        per_cell.update(timed["mean"])
    parts = [f"mean {args.mode}-mode cell times of {', '.join(measured)} from {args.evaluation}"] if measured else []
    if len(measured) < len(per_cell):
        parts.append("paper-mode CELL_SECONDS" + (" for the rest" if measured else ""))
    source = ", ".join(parts)
    # The seven published tasks, plus config/paper.yaml's fault-filtered GTZAN task (counted as gtzan_genre).
    cell_s = (per_cell.sum() + per_cell.get("gtzan_genre", 0.0)) * CELLS_PER_TASK
    stages["scores"] = (cell_s / (args.cores / 2), args.nodes, f"CPU (libsvm), {len(per_cell)} tasks' {source}")
    print(f"config/paper.yaml at MSD scale: {MSD_PREVIEWS:,} previews ({MSD_TRAINING_CLIPS:,} for training), "
          f"{target_clips:,} target clips, {args.epochs} epochs, evaluation mode {args.mode}; "
          f"one node = {args.cores} cores + 1 GPU")
    print(f"{'stage':14s} {'one node':>10s} {args.nodes:>3d} nodes   bound")
    total_one = total_cluster = 0.0
    for name, (seconds, parallel, bound) in stages.items():
        total_one += seconds
        total_cluster += seconds / parallel
        print(f"{name:14s} {hours(seconds)} {hours(seconds / parallel)}   {bound}")
    print(f"{'total':14s} {hours(total_one)} {hours(total_cluster)}   (stages one after the other)")
    print("rates used:")
    for key, (value, unit, source) in RATES.items():
        print(f"  {key:17s} {value:9.1f} {unit}  [{source}]")


if __name__ == "__main__":
    main()
