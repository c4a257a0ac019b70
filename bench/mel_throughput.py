"""Throughput of the spectrogram path, in one run on the same clips.

Times, for each audio format:
  decode   soundfile decoding of the first 29 s of each clip to mono float32, on as many
           threads as the project's path uses (the floor);
  project  the project's whole path: decode + resample + log-mel + Parquet shard (MelExtractor);
  librosa  librosa.load (resampling with soxr) + librosa.feature.melspectrogram, one clip at a time.
and prints clips per second and the ratios project/decode and librosa/project.

Usage: .venv/bin/python bench/mel_throughput.py [--clips 48] [--seconds 30] [--threads 2] [--format wav ...]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
import torch

from mirtransfer.audio import load_mono
from mirtransfer.demo import random_clip, render
from mirtransfer.frontend import ExcerptPolicy, FrontEnd
from mirtransfer.melspec import MelExtractor

FORMATS = [("flac", 44100, 2), ("mp3", 44100, 2), ("wav", 22050, 1), ("au", 22050, 1)]


def make_clips(folder: Path, n: int, seconds: float, ext: str, sr: int, channels: int) -> list[str]:
    names = []
    for i in range(n):
        rng = np.random.default_rng(i)
        wave = render(random_clip(rng, seconds, seconds=seconds), sr, rng)
        data = np.stack([wave, np.roll(wave, 100)], 1) if channels == 2 else wave
        name = f"{ext}/clip{i:03d}.{ext}"
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        sf.write(folder / name, data, sr, format={"au": "AU", "mp3": "MP3"}.get(ext))
        names.append(name)
    return names


def timed(fn: Callable[[], object]) -> float:
    """Seconds one call of fn takes."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=48)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--dtype", default="float16")
    parser.add_argument("--batch-size", type=int, default=16, help="clips per batch (the config's melspec.batch_size)")
    parser.add_argument("--format", action="append", choices=[f[0] for f in FORMATS], help="repeatable; default: all")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as run_shard: the extractor's threads work on clips in parallel
    import librosa  # imported here: its first call compiles with numba, warmed below

    fe, policy = FrontEnd(), ExcerptPolicy()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        for ext, sr, channels in [f for f in FORMATS if not args.format or f[0] in args.format]:
            names = make_clips(root, args.clips, args.seconds, ext, sr, channels)
            manifest = pd.DataFrame({"clip_id": names, "path": names, "start": None, "end": None})
            extractor = MelExtractor(fe, policy, dtype=args.dtype, batch_size=args.batch_size, threads=args.threads)

            def decode() -> None:  # with as many threads as the project's path gets
                with ThreadPoolExecutor(args.threads) as pool:
                    list(pool.map(lambda name: load_mono(root / name, max_seconds=fe.duration), names))

            def project() -> None:
                extractor.run(manifest, root, root / f"{ext}.parquet")

            def with_librosa() -> None:
                for name in names:
                    y, _ = librosa.load(root / name, sr=fe.sample_rate, mono=True, duration=fe.duration)
                    librosa.power_to_db(librosa.feature.melspectrogram(
                        y=y, sr=fe.sample_rate, n_fft=fe.n_fft, hop_length=fe.hop_length, n_mels=fe.n_mels,
                        fmax=fe.f_max), top_db=None)

            decode()  # warm the page cache, the resampling kernels and numba once
            project()
            librosa.feature.melspectrogram(y=np.zeros(12000, np.float32), sr=12000)
            times = {name: min(timed(fn) for _ in range(2)) for name, fn in
                     (("decode", decode), ("project", project), ("librosa", with_librosa))}
            rows.append({
                "format": f"{ext} {sr} Hz {channels} ch",
                **{f"{k} clips/s": round(args.clips / v, 1) for k, v in times.items()},
                "project/decode": round(times["project"] / times["decode"], 2),
                "librosa/project": round(times["librosa"] / times["project"], 2),
            })
            print(rows[-1], flush=True)
    print(f"\n{args.clips} clips of {args.seconds} s, first {fe.duration} s used, {args.threads} threads, "
          f"batches of {args.batch_size}, {args.dtype} storage")
    print(pd.DataFrame(rows).to_string(index=False))


if __name__ == "__main__":
    main()
