"""Decoding of every supported format and sample rate, and the reasons for rejecting bad files."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from conftest import tone, truncate, write_tone
from mirtransfer.audio import AudioError, DecodeLimits, load_mono


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".ogg", ".mp3", ".au"])
@pytest.mark.parametrize("sr", [16000, 22050, 44100])
def test_decodes_every_format_and_rate(tmp_path, suffix, sr):
    path = write_tone(tmp_path / f"a{suffix}", seconds=2.0, sr=sr, freq=1000.0, channels=2)
    wave, rate = load_mono(path)
    assert rate == sr
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert abs(len(wave) - 2 * sr) <= 0.01 * sr  # lossy codecs may add a few padding frames
    spectrum = np.abs(np.fft.rfft(wave[: sr]))
    assert abs(np.argmax(spectrum) * sr / sr - 1000) <= 2  # 1 s window: bins are 1 Hz apart


def test_mono_is_the_mean_of_channels(tmp_path):
    left, right = tone(1.5, 16000, 300.0)[:, 0], tone(1.5, 16000, 700.0)[:, 0]
    sf.write(tmp_path / "st.wav", np.stack([left, right], 1), 16000, subtype="FLOAT")
    wave, _ = load_mono(tmp_path / "st.wav")
    np.testing.assert_allclose(wave, (left + right) / 2, atol=1e-7)


def test_segment_and_early_stop(tmp_path):
    x = tone(5.0, 8000)[:, 0]
    sf.write(tmp_path / "long.wav", x, 8000, subtype="FLOAT")
    seg, _ = load_mono(tmp_path / "long.wav", start=1.0, end=2.5)
    np.testing.assert_array_equal(seg, x[8000:20000])
    head, _ = load_mono(tmp_path / "long.wav", max_seconds=2.0)
    np.testing.assert_array_equal(head, x[:16000])
    with pytest.raises(AudioError, match="after the end"):
        load_mono(tmp_path / "long.wav", start=9.0)


def test_each_bad_file_gets_its_reason(bad_files):
    for reason, path in bad_files.items():
        with pytest.raises(AudioError) as err:
            load_mono(path)
        assert str(err.value).startswith(reason), (path, err.value)


@pytest.mark.parametrize("suffix", [".wav", ".au", ".ogg", ".mp3", ".flac"])
def test_truncated_files_are_caught(tmp_path, suffix):
    path = truncate(write_tone(tmp_path / f"cut{suffix}", 3.0))
    with pytest.raises(AudioError, match="truncated|not decodable"):
        load_mono(path)


def test_limits_are_configurable(tmp_path):
    path = write_tone(tmp_path / "quiet.wav", 0.5, amp=0.001)
    with pytest.raises(AudioError, match="too short"):
        load_mono(path)
    wave, _ = load_mono(path, limits=DecodeLimits(min_duration=0.1, silence_db=-90))
    assert len(wave) == int(0.5 * 22050)
    with pytest.raises(AudioError, match="silent"):
        load_mono(path, limits=DecodeLimits(min_duration=0.1, silence_db=-20))


def test_non_finite_samples_are_rejected(tmp_path):
    x = tone(2.0, 8000)[:, 0]
    x[100] = np.nan
    sf.write(tmp_path / "nan.wav", x, 8000, subtype="FLOAT")
    with pytest.raises(AudioError, match="non-finite"):
        load_mono(tmp_path / "nan.wav")


def test_header_only_corrupt_mp3_and_empty_segment_say_what_they_are(tmp_path):
    sf.write(tmp_path / "header.wav", np.zeros(0, dtype=np.float32), 8000)
    with pytest.raises(AudioError, match=r"^no audio frames"):
        load_mono(tmp_path / "header.wav")
    (tmp_path / "noise.mp3").write_bytes(bytes(range(256)) * 40)
    with pytest.raises(AudioError) as err:
        load_mono(tmp_path / "noise.mp3")
    assert str(err.value).startswith("not decodable audio") and "does not exist" not in str(err.value)
    write_tone(tmp_path / "long.wav", 2.0, sr=8000)
    with pytest.raises(AudioError, match=r"^no samples"):
        load_mono(tmp_path / "long.wav", start=1.0, end=1.00001, limits=DecodeLimits(min_duration=0.0))
