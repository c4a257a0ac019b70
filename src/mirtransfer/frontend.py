"""The log-mel front end's parameters and the excerpt policy (no torch: the workflow's DAG reads them).

The parameters travel with every spectrogram table and every model, so features
are never computed from spectrograms made with other settings. The torch module
that computes the spectrograms is :class:`mirtransfer.logmel.LogMel`.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np

from mirtransfer.errors import UserError


class FrontEndMismatch(UserError, ValueError):
    """Spectrograms or a model were made with other front-end settings."""


@dataclass(frozen=True)
class FrontEnd:
    """Log-mel spectrogram settings (paper defaults: 12 kHz, 512-point FFT, hop 256, 96 bins, 29 s).

    Frames are centred (zero padding of n_fft/2 at both ends, as librosa) or padded
    as TensorFlow's 'SAME' (as kapre), the window is a periodic Hann, the mel
    filterbank is librosa's Slaney one, and values are 10*log10(max(power, amin)) in
    decibels, optionally made relative to the clip's maximum and floored (db_range).
    flip_frames reverses each frame before the window and the DFT: the 2017 kapre
    applied its DFT kernels with Theano's convolution, which flips the kernel.
    """

    sample_rate: int = 12000
    n_fft: int = 512
    hop_length: int = 256
    n_mels: int = 96
    f_min: float = 0.0
    f_max: float = 6000.0
    duration: float = 29.0
    amin: float = 1e-10
    padding: str = "center"  # center: n_fft/2 zeros at both ends (librosa); same: TensorFlow 'SAME' (kapre)
    db_range: float | None = None  # None: plain dB; e.g. 80: dB minus the clip's maximum, floored at -80 (kapre)
    flip_frames: bool = False  # each frame reversed in time before the window and DFT (Theano's convolution)

    def __post_init__(self) -> None:
        if self.padding not in ("center", "same"):
            raise ValueError(f"frontend.padding must be 'center' or 'same', not {self.padding!r}")
        if self.f_max > self.sample_rate / 2:
            raise ValueError(f"frontend.f_max {self.f_max} Hz is above Nyquist ({self.sample_rate / 2} Hz)")
        if not 0 <= self.f_min < self.f_max:
            raise ValueError(f"frontend.f_min {self.f_min} must be in [0, f_max={self.f_max})")
        if self.n_samples < self.n_fft:
            raise ValueError(f"frontend.duration {self.duration} s is shorter than one FFT window")

    @property
    def n_samples(self) -> int:
        """Samples in one excerpt."""
        return int(round(self.duration * self.sample_rate))

    @property
    def n_frames(self) -> int:
        """Frames in one excerpt's spectrogram."""
        if self.padding == "same":
            return math.ceil(self.n_samples / self.hop_length)
        return 1 + self.n_samples // self.hop_length

    def seconds_for(self, frames: int) -> float:
        """The shortest excerpt (seconds, rounded up to the millisecond) that gives ``frames`` frames."""
        samples = (frames - 1) * self.hop_length + (1 if self.padding == "same" else 0)
        return math.ceil(samples / self.sample_rate * 1000) / 1000

    @property
    def shape(self) -> tuple[int, int]:
        """(n_mels, n_frames) of one excerpt."""
        return (self.n_mels, self.n_frames)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "FrontEnd":
        """Build from a config or metadata mapping; unknown keys are an error."""
        names = {f.name for f in fields(cls)}
        unknown = set(values) - names
        if unknown:
            raise ValueError(f"unknown front-end parameters {sorted(unknown)}; known: {sorted(names)}")
        return cls(**values)

    def require_same(self, other: "FrontEnd", *, mine: str, theirs: str) -> None:
        """Raise FrontEndMismatch naming both settings when they differ."""
        diff = [(f.name, getattr(self, f.name), getattr(other, f.name)) for f in fields(self)]
        detail = ", ".join(f"{name}: {a} ({mine}) vs {b} ({theirs})" for name, a, b in diff if a != b)
        if detail:
            raise FrontEndMismatch(f"front-end settings differ between {mine} and {theirs}: {detail}")


# Front ends of published models, by name.
# choi2017: kapre 0.1.2's mel layer as the authors' later keras2 convnet used it (SAME
# padding, decibels relative to the clip's maximum, floored at -80 dB; kapre took that
# maximum over the batch, a bug not copied here).
# choi2017_paper: the 2017 kapre under Theano, as the paper's network used it (256 zeros
# on each side, i.e. centred frames; frames reversed by Theano's convolution); plain dB:
# the network itself makes it relative to the batch's maximum and floors it at -80 dB
# (ModelSpec.db_range), so the stored spectrogram does not depend on the batch.
PRESETS = {
    "choi2017": FrontEnd(sample_rate=12000, n_fft=512, hop_length=256, n_mels=96, f_min=0.0, f_max=6000.0,
                         duration=29.0, padding="same", db_range=80.0),
    "choi2017_paper": FrontEnd(sample_rate=12000, n_fft=512, hop_length=256, n_mels=96, f_min=0.0, f_max=6000.0,
                               duration=29.0, padding="center", db_range=None, flip_frames=True),
}


def from_config(values: dict[str, Any]) -> FrontEnd:
    """A front end from explicit parameters, or from ``{preset: <name>, duration: <seconds>}``."""
    if "preset" not in values:
        return FrontEnd.from_dict(values)
    if values["preset"] not in PRESETS or set(values) - {"preset", "duration"}:
        raise ValueError(f"a front-end preset is {{preset: one of {sorted(PRESETS)}, duration: seconds}}, not {values}")
    preset = PRESETS[values["preset"]]
    return replace(preset, duration=float(values.get("duration", preset.duration)))


def fit_length(wave: np.ndarray, n_samples: int, pad: str) -> np.ndarray:
    """Cut or pad a waveform to exactly n_samples: zero-padding or repeating it."""
    if len(wave) >= n_samples:
        return wave[:n_samples]
    if pad == "zero":
        return np.pad(wave, (0, n_samples - len(wave)))
    if pad == "repeat":
        return np.resize(wave, n_samples)
    raise ValueError(f"unknown pad mode {pad!r}; use 'zero' or 'repeat'")


@dataclass(frozen=True)
class ExcerptPolicy:
    """Which part of a clip becomes spectrograms.

    policy 'first': the first ``duration`` seconds (the paper), one excerpt per clip.
    policy 'all': consecutive non-overlapping excerpts (at most max_count), whose
    features are averaged later; a last excerpt shorter than min_duration is dropped.
    pad: how a clip (or last excerpt) shorter than the excerpt is filled: 'zero' or 'repeat'.
    """

    policy: str = "first"
    pad: str = "zero"
    max_count: int = 8
    min_duration: float = 1.0
    silence_db: float = -80.0

    def __post_init__(self) -> None:
        if self.policy not in ("first", "all"):
            raise ValueError(f"excerpts.policy must be 'first' or 'all', not {self.policy!r}")
        if self.pad not in ("zero", "repeat"):
            raise ValueError(f"excerpts.pad must be 'zero' or 'repeat', not {self.pad!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def decode_seconds(self, frontend: FrontEnd) -> float | None:
        """How much audio must be decoded at most (None: all of it)."""
        if self.policy == "first":
            return frontend.duration
        return frontend.duration * self.max_count

    def split(self, wave: np.ndarray, frontend: FrontEnd) -> list[np.ndarray]:
        """Cut a waveform at the front end's rate into fixed-length excerpts."""
        n = frontend.n_samples
        if self.policy == "first" or len(wave) <= n:
            return [fit_length(wave, n, self.pad)]
        chunks = [wave[i : i + n] for i in range(0, len(wave), n)][: self.max_count]
        if len(chunks[-1]) < self.min_duration * frontend.sample_rate:
            chunks.pop()
        return [fit_length(c, n, self.pad) for c in chunks]
