"""Audio made ready for the front end: decoded, checked, resampled and cut into the policy's excerpts."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
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
    """Resample mono waveforms to one rate with torchaudio's kernel, skipping its zero taps.

    ``torchaudio.transforms.Resample`` applies, with stride ``orig``, one filter of
    ``2 * width + orig`` taps per output phase (171 taps for 22.05 to 12 kHz). Each phase's
    windowed sinc is non-zero on about ``2 * lowpass_filter_width * orig / new`` of them (23)
    and exactly 0 in float32 elsewhere. Where there are at least ``MIN_GROUP`` phases, they
    are split into groups of at least ``MIN_GROUP`` and each group is one matrix product
    over the taps where any of its phases is non-zero: the same sums in another order
    (float rounding, tested against torchaudio), 1.2 to 3.7 times faster on one thread
    (22.05 and 44.1 to 12 and 16 kHz). With fewer phases (48 to 12 kHz has one), such
    narrow products are slower than torchaudio's convolution, which is then used as is.
    """

    MIN_GROUP = 20  # phases per product: narrower products lose more to overhead than they save

    def __init__(self, target_rate: int) -> None:
        self.target_rate = target_rate
        self._plans: dict[int, Callable[[torch.Tensor], torch.Tensor]] = {}

    def __call__(self, wave: np.ndarray, rate: int) -> np.ndarray:
        if rate == self.target_rate:
            return wave
        if rate not in self._plans:
            transform = torchaudio.transforms.Resample(rate, self.target_rate)
            phases = transform.new_freq // transform.gcd
            self._plans[rate] = _ResamplePlan(transform, self.MIN_GROUP) if phases >= self.MIN_GROUP else transform
        with torch.inference_mode():
            return self._plans[rate](torch.from_numpy(wave)).numpy()


class _ResamplePlan:
    """One source rate's kernel, cut into groups of phases with the taps they use."""

    def __init__(self, transform: torchaudio.transforms.Resample, min_group: int) -> None:
        self.orig = transform.orig_freq // transform.gcd
        self.new = transform.new_freq // transform.gcd
        self.width = transform.width
        kernel = transform.kernel[:, 0, :]  # (new phases, 2 * width + orig taps)
        self.taps = kernel.shape[1]
        bounds = np.linspace(0, self.new, max(1, self.new // min_group) + 1).round().astype(int)
        self.groups: list[tuple[int, torch.Tensor]] = []
        for start, stop in zip(bounds[:-1], bounds[1:]):
            used = torch.nonzero(kernel[start:stop].any(0)).flatten()
            first, last = int(used[0]), int(used[-1]) + 1
            self.groups.append((first, kernel[start:stop, first:last].T.contiguous()))

    def __call__(self, wave: torch.Tensor) -> torch.Tensor:
        padded = torch.nn.functional.pad(wave, (self.width, self.width + self.orig))
        frames = (padded.shape[0] - self.taps) // self.orig + 1
        # Output sample k * new + i is phase i's filter on the input from k * orig.
        phases = [padded.as_strided((frames, len(weights)), (self.orig, 1), first) @ weights for first, weights in self.groups]
        return torch.cat(phases, 1).reshape(-1)[: math.ceil(self.new * wave.shape[0] / self.orig)]


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
