"""The log-mel front end against librosa, and the excerpt policy."""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import torch

from mirtransfer.frontend import ExcerptPolicy, FrontEnd, FrontEndMismatch, fit_length
from mirtransfer.logmel import LogMel


@pytest.mark.parametrize("frontend", [FrontEnd(duration=3.0), FrontEnd(sample_rate=16000, n_fft=1024, hop_length=512, n_mels=128, f_min=20.0, f_max=8000.0, duration=2.0)])
def test_mel_power_matches_librosa(frontend):
    rng = np.random.default_rng(1)
    t = np.arange(frontend.n_samples) / frontend.sample_rate
    y = (0.3 * np.sin(2 * np.pi * 440 * t * (1 + t)) + 0.05 * rng.standard_normal(len(t))).astype(np.float32)
    ours = LogMel(frontend).power(torch.from_numpy(y)[None])[0].double().numpy()
    ref = librosa.feature.melspectrogram(
        y=y.astype(np.float64), sr=frontend.sample_rate, n_fft=frontend.n_fft, hop_length=frontend.hop_length,
        n_mels=frontend.n_mels, fmin=frontend.f_min, fmax=frontend.f_max, power=2.0, center=True, pad_mode="constant",
    )
    assert ours.shape == ref.shape == frontend.shape
    # 1e-4 relative on the power spectrum, taken against each frame's energy so quiet bins count too.
    scale = ref.max(axis=0, keepdims=True)
    assert np.max(np.abs(ours - ref) / scale) < 1e-4


def test_log_is_decibels_with_floor():
    fe = FrontEnd(duration=1.0)
    logmel = LogMel(fe)
    x = torch.zeros(1, fe.n_samples)
    assert torch.allclose(logmel(x), torch.tensor(-100.0))
    x = torch.randn(2, fe.n_samples)
    np.testing.assert_allclose(logmel(x).numpy(), 10 * np.log10(np.maximum(logmel.power(x).numpy(), 1e-10)), rtol=1e-5, atol=1e-4)


def test_paper_shape():
    assert FrontEnd().shape == (96, 1360)
    assert FrontEnd().n_samples == 348000


def test_mismatch_names_both_settings():
    a, b = FrontEnd(), FrontEnd(n_mels=128)
    a.require_same(FrontEnd(), mine="model", theirs="table")
    with pytest.raises(FrontEndMismatch, match=r"n_mels: 96 \(model\) vs 128 \(table\)"):
        a.require_same(b, mine="model", theirs="table")


def test_bad_frontend_values():
    with pytest.raises(ValueError, match="Nyquist"):
        FrontEnd(f_max=7000.0)
    with pytest.raises(ValueError, match=r"^frontend.f_min 6000.0 must be in \[0, f_max=6000.0\)$"):
        FrontEnd(f_min=6000.0)
    with pytest.raises(ValueError, match=r"^frontend.duration 0.01 s is shorter than one FFT window$"):
        FrontEnd(duration=0.01)
    with pytest.raises(ValueError, match="unknown front-end parameters"):
        FrontEnd.from_dict({"sample_rate": 12000, "nmels": 96})


def test_fit_length_pads_or_repeats():
    x = np.arange(1, 4, dtype=np.float32)
    np.testing.assert_array_equal(fit_length(x, 7, "zero"), [1, 2, 3, 0, 0, 0, 0])
    np.testing.assert_array_equal(fit_length(x, 7, "repeat"), [1, 2, 3, 1, 2, 3, 1])
    np.testing.assert_array_equal(fit_length(x, 2, "zero"), [1, 2])


def test_excerpt_policies():
    fe = FrontEnd(sample_rate=1000, n_fft=64, hop_length=32, n_mels=8, f_max=500.0, duration=1.0)
    x = np.ones(3500, dtype=np.float32)
    assert len(ExcerptPolicy("first").split(x, fe)) == 1
    parts = ExcerptPolicy("all", min_duration=0.4).split(x, fe)
    assert [len(p) for p in parts] == [1000] * 4 and parts[3][499] == 1 and parts[3][500] == 0
    assert len(ExcerptPolicy("all", min_duration=0.6).split(x, fe)) == 3
    assert len(ExcerptPolicy("all", max_count=2).split(x, fe)) == 2
    assert ExcerptPolicy("all").decode_seconds(fe) == 8.0
    with pytest.raises(ValueError, match="policy"):
        ExcerptPolicy("middle")
