"""The MFCC baseline, as in the paper: 120 statistics per clip.

20 MFCCs (librosa's defaults at the front end's sample rate), their first and second
frame differences, and the mean and standard deviation of each over time, in the order
mean(mfcc), std(mfcc), mean(d1), std(d1), mean(d2), std(d2).

audio 'excerpt': of the same excerpts the convnet sees (padded like them); a clip with
several excerpts gets the mean of its excerpts' values. audio 'clip': of the clip's own
first ``duration`` seconds, unpadded (only a clip under MIN_SAMPLES is zero-padded to it),
as the authors computed theirs (``_path_to_mfccs`` in their ``utils_featext.py``).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mirtransfer.featuresets import write_table
from mirtransfer.frontend import ExcerptPolicy, FrontEnd
from mirtransfer.manifest import read_manifest
from mirtransfer.excerpts import ExcerptReader
from mirtransfer.meltable import MelTable

N_MFCC = 20
MIN_SAMPLES = 1024  # the authors padded shorter clips to this length
AUDIO = ("excerpt", "clip")


def mfcc_statistics(wave: np.ndarray, sample_rate: int) -> np.ndarray:
    """The 120 MFCC statistics of one waveform."""
    import librosa  # slow first import (numba); only MFCC jobs need it

    m = librosa.feature.mfcc(y=wave, sr=sample_rate, n_mfcc=N_MFCC)
    d1 = np.diff(m, axis=1)
    d2 = np.diff(d1, axis=1)
    return np.concatenate([f(x, axis=1) for x in (m, d1, d2) for f in (np.mean, np.std)]).astype(np.float32)


def extract_mfcc(
    manifest_path: str | Path,
    mel_paths: list[str | Path],
    out: str | Path,
    *,
    frontend: dict[str, Any],
    excerpts: dict[str, Any],
    audio: str = "excerpt",
    threads: int = 1,
    logger: logging.Logger | None = None,
) -> None:
    """MFCC statistics of every clip that has spectrograms, in the spectrograms' order.

    audio: 'excerpt' (the spectrograms' excerpts) or 'clip' (the clip's own audio, unpadded).
    """
    if audio not in AUDIO:
        raise ValueError(f"mfcc.audio must be one of {AUDIO}, not {audio!r}")
    log = logger or logging.getLogger("mirtransfer")
    torch.set_num_threads(1)  # the job's threads work on clips in parallel (resampling runs in torch)
    fe, policy = FrontEnd.from_dict(frontend), ExcerptPolicy(**excerpts)
    manifest, meta = read_manifest(manifest_path)
    table = MelTable(mel_paths)
    fe.require_same(table.frontend, mine="the config", theirs=f"the spectrograms {table.paths[0]}")
    clip_ids = list(dict.fromkeys(table.index()["clip_id"]))  # kept clips, table order
    rows = manifest.set_index("clip_id").loc[clip_ids].reset_index()
    reader = ExcerptReader(fe, policy)
    root = Path(meta["root"])

    def one(row: Any) -> np.ndarray:
        if audio == "clip":
            wave = reader.wave(root, row)[: fe.n_samples]
            return mfcc_statistics(np.pad(wave, (0, max(MIN_SAMPLES - len(wave), 0))), fe.sample_rate)
        return np.mean([mfcc_statistics(x, fe.sample_rate) for x in reader(root, row)], axis=0)

    with ThreadPoolExecutor(max_workers=max(threads, 1)) as pool:
        values = np.stack(list(pool.map(one, rows.itertuples(index=False))))
    columns = [f"{stat}_{kind}_{k:02d}" for kind in ("mfcc", "d1", "d2") for stat in ("mean", "std") for k in range(N_MFCC)]
    write_table(clip_ids, values, columns, out, {
        "extractor": {"name": "mfcc", "n_mfcc": N_MFCC, "statistics": "mean and std of mfcc, d1, d2",
                      "audio": audio},
        "frontend": fe.to_dict(), "excerpts": policy.to_dict(), "dataset": meta["dataset"],
    })
    log.info("%s: MFCC statistics of %d clips", meta["dataset"], len(clip_ids))
