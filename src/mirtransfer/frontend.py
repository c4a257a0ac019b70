"""The log-mel front end: its parameters and the torch module that computes it.

The parameters travel with every spectrogram table and every model, so features
are never computed from spectrograms made with other settings.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np
import torch
import torchaudio

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

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

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


class LogMel(torch.nn.Module):
    """Waveforms (batch, samples) at ``frontend.sample_rate`` to log-mel (batch, n_mels, frames).

    Same result as torchaudio's Spectrogram(power=2, center=True, pad_mode='constant')
    followed by MelScale(norm='slaney', mel_scale='slaney'), computed faster on CPU:
    frames are transformed with one real FFT, and the power spectrum and the mel
    projection are fused into one matrix product over interleaved real and imaginary
    parts (torch's strided complex abs() costs more than the FFT itself).
    """

    def __init__(self, frontend: FrontEnd) -> None:
        super().__init__()
        self.frontend = frontend
        fbank = torchaudio.functional.melscale_fbanks(
            n_freqs=frontend.n_fft // 2 + 1,
            f_min=frontend.f_min,
            f_max=frontend.f_max,
            n_mels=frontend.n_mels,
            sample_rate=frontend.sample_rate,
            norm="slaney",
            mel_scale="slaney",
        )
        self.register_buffer("window", torch.hann_window(frontend.n_fft, periodic=True), persistent=False)
        # Row 2k and 2k+1 weight the real and the imaginary part of bin k.
        self.register_buffer("fbank2", fbank.repeat_interleave(2, dim=0), persistent=False)

    def power(self, waveform: torch.Tensor) -> torch.Tensor:
        """Mel power spectrogram (batch, n_mels, frames), before the logarithm."""
        n_fft, hop = self.frontend.n_fft, self.frontend.hop_length
        if self.frontend.padding == "center":
            before = after = n_fft // 2
        else:  # TensorFlow 'SAME': ceil(L / hop) frames, the smaller half of the padding first
            length = waveform.shape[-1]
            total = max((math.ceil(length / hop) - 1) * hop + n_fft - length, 0)
            before, after = total // 2, total - total // 2
        padded = torch.nn.functional.pad(waveform, (before, after))
        frames = padded.unfold(-1, self.frontend.n_fft, self.frontend.hop_length)
        if self.frontend.flip_frames:
            frames = frames.flip(-1)
        frames = frames * self.window
        spectrum = torch.view_as_real(torch.fft.rfft(frames))  # (..., frames, bins, 2), contiguous
        squares = spectrum.square_().flatten(-2)  # (..., frames, 2 * bins)
        return torch.matmul(squares, self.fbank2).transpose(-1, -2)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        db = 10.0 * torch.log10(torch.clamp(self.power(waveform), min=self.frontend.amin))
        if self.frontend.db_range is not None:  # relative to each clip's maximum (kapre, per clip)
            db = torch.clamp(db - db.amax(dim=(-2, -1), keepdim=True), min=-self.frontend.db_range)
        return db


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
