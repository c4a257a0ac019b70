"""Audio made ready for the front end: decoded, checked, resampled and cut into the policy's excerpts."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import torchaudio

from mirtransfer.audio import AudioError, DecodeLimits, load_mono
from mirtransfer.frontend import ExcerptPolicy, FrontEnd

RESAMPLE_MARGIN = 0.05  # seconds decoded past the excerpts, so the resampling filter sees past their end


class Resampler:
    """Resample mono waveforms to one rate, caching torchaudio's kernel per source rate."""

    def __init__(self, target_rate: int) -> None:
        self.target_rate = target_rate
        self._kernels: dict[int, torchaudio.transforms.Resample] = {}

    def __call__(self, wave: np.ndarray, rate: int) -> np.ndarray:
        if rate == self.target_rate:
            return wave
        if rate not in self._kernels:
            self._kernels[rate] = torchaudio.transforms.Resample(rate, self.target_rate)
        with torch.inference_mode():
            return self._kernels[rate](torch.from_numpy(wave)).numpy()


def inside_root(root: Path, relative: str) -> Path:
    """``root / relative``, refused (AudioError) when the path leaves the dataset's root.

    The check is on the path as written: ``..`` and absolute paths are refused, a
    symbolic link inside the root that points elsewhere is the user's choice and kept.
    """
    path = Path(os.path.normpath(root / relative))
    if Path(relative).is_absolute() or not path.is_relative_to(os.path.normpath(root)):
        raise AudioError(f"outside the dataset root: {relative!r} is not inside {root}; the table's paths must be "
                         "relative to the root and stay inside it")
    return path


class ExcerptReader:
    """Decode a manifest row, check it, resample it and cut it into the policy's excerpts."""

    def __init__(self, frontend: FrontEnd, excerpts: ExcerptPolicy) -> None:
        self.frontend = frontend
        self.excerpts = excerpts
        self.resample = Resampler(frontend.sample_rate)
        self.limits = DecodeLimits(min_duration=excerpts.min_duration, silence_db=excerpts.silence_db)

    def __call__(self, root: Path, row: Any) -> list[np.ndarray]:
        """The row's excerpts at the front end's rate; AudioError for a bad file."""
        return self.excerpts.split(self.wave(root, row), self.frontend)

    def wave(self, root: Path, row: Any) -> np.ndarray:
        """The row's audio at the front end's rate, as far as the excerpts reach; AudioError for a bad file."""
        path = inside_root(root, row.path)
        start = None if pd.isna(row.start) else float(row.start)
        end = None if pd.isna(row.end) else float(row.end)
        wave, rate = load_mono(
            path,
            start=start,
            end=end,
            # A little more than needed, so the resampling filter sees past the excerpt's end.
            max_seconds=self.excerpts.decode_seconds(self.frontend) + RESAMPLE_MARGIN,
            limits=self.limits,
        )
        return self.resample(wave, rate)
