"""The log-mel front end as a torch module: waveforms to the spectrograms a FrontEnd describes."""

from __future__ import annotations

import math

import torch
import torchaudio

from mirtransfer.frontend import FrontEnd


class LogMel(torch.nn.Module):
    """Waveforms (batch, samples) at ``frontend.sample_rate`` to log-mel (batch, n_mels, frames).

    Same result as torchaudio's Spectrogram(power=2, center=True, pad_mode='constant')
    followed by MelScale(norm='slaney', mel_scale='slaney'), computed faster on CPU:
    frames are transformed with one real FFT, and the power spectrum is summed from the
    real and imaginary parts (torch's complex abs() costs more than the FFT itself).
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
        self.register_buffer("fbank", fbank, persistent=False)

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
        spectrum = torch.view_as_real(torch.fft.rfft(frames))  # (..., frames, bins, 2)
        power = torch.addcmul(spectrum[..., 0].square(), spectrum[..., 1], spectrum[..., 1])
        return torch.matmul(power, self.fbank).transpose(-1, -2)

    def forward(self, waveform: torch.Tensor) -> torch.Tensor:
        db = 10.0 * torch.log10(torch.clamp(self.power(waveform), min=self.frontend.amin))
        if self.frontend.db_range is not None:  # relative to each clip's maximum (kapre, per clip)
            db = torch.clamp(db - db.amax(dim=(-2, -1), keepdim=True), min=-self.frontend.db_range)
        return db
