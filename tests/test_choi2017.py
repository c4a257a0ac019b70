"""The authors' Keras convnet converted to torch, checked against an independent numpy forward pass.

The reference reads every weight from the HDF5 itself (DFT kernels and mel filterbank
included) and computes channels-last, in float64, as Keras and kapre did (decibel
maximum per clip). It lives here, not in the package.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import h5py
import numpy as np
import pytest
import soundfile as sf
import torch

from conftest import write_tone
from mirtransfer.audio import load_mono
from mirtransfer.choi2017 import FRONTEND, MIN_FEATURE_SECONDS, MSD_TOP50, frontend
from mirtransfer.convert import NotChoi2017Model, convert, convert_file
from mirtransfer.datasets import build_manifest
from mirtransfer.features import layer_features
from mirtransfer.frontend import fit_length
from mirtransfer.logmel import LogMel
from mirtransfer.manifest import write_manifest
from mirtransfer.melspec import run_shard
from mirtransfer.meltable import MelTable
from mirtransfer.excerpts import Resampler
from mirtransfer.model import load_model
from mirtransfer.modelspec import ExcerptTooShort
from mirtransfer.tagging import main as tagging_main
from mirtransfer.tagging import tag_files

# A folder of real recordings to check the port on (e.g. game music from Debian's
# lincity-ng-data or supertux-data); the check is skipped when it is not set.
REAL_AUDIO = os.environ.get("MIRTRANSFER_REAL_AUDIO")


@pytest.fixture(scope="module")
def hdf5(choi2017_hdf5):
    return choi2017_hdf5


def reference(path, wave: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    """Tag probabilities and the five pre-pool block averages, from the HDF5 with numpy only."""
    with h5py.File(path, "r") as f:
        w = {k: np.asarray(v, dtype=np.float64) for k, v in _datasets(f["model_weights"])}
    hop, n_fft = 256, 512
    frames_n = math.ceil(len(wave) / hop)
    total = max((frames_n - 1) * hop + n_fft - len(wave), 0)
    x = np.pad(wave.astype(np.float64), (total // 2, total - total // 2))
    frames = np.stack([x[t * hop : t * hop + n_fft] for t in range(frames_n)])
    real = frames @ w["melgram/melgram/real_kernels:0"][:, 0, 0, :]
    imag = frames @ w["melgram/melgram/imag_kernels:0"][:, 0, 0, :]
    mel = ((real**2 + imag**2) @ w["melgram/melgram/Variable:0"]).T  # (mel, time)
    db = 10 * np.log10(np.maximum(mel, 1e-10))
    db = np.maximum(db - db.max(), -80.0)
    h = ((db - db.mean()) / (db.std() + 1e-10))[:, :, None]  # channels last
    pools = [(2, 4), (3, 4), (2, 5), (2, 4), (4, 4)]
    features = []
    for i, (ph, pw) in enumerate(pools, start=1):
        k, b = w[f"conv2d_{i}/conv2d_{i}/kernel:0"], w[f"conv2d_{i}/conv2d_{i}/bias:0"]
        padded = np.pad(h, ((1, 1), (1, 1), (0, 0)))
        out = sum(padded[di : di + h.shape[0], dj : dj + h.shape[1], :] @ k[di, dj] for di in range(3) for dj in range(3)) + b
        bn = f"batch_normalization_{i}/batch_normalization_{i}/"
        out = (out - w[bn + "moving_mean:0"]) / np.sqrt(w[bn + "moving_variance:0"] + 1e-3) * w[bn + "gamma:0"] + w[bn + "beta:0"]
        out = np.where(out > 0, out, np.expm1(np.minimum(out, 0)))
        features.append(out.mean(axis=(0, 1)))
        hh, ww = out.shape[0] // ph, out.shape[1] // pw
        h = out[: hh * ph, : ww * pw].reshape(hh, ph, ww, pw, -1).max(axis=(1, 3))
    logits = h.max(axis=(0, 1)) @ w["dense_1/dense_1/kernel:0"] + w["dense_1/dense_1/bias:0"]
    return 1 / (1 + np.exp(-logits)), features


def _datasets(group, prefix=""):
    for key, value in group.items():
        if isinstance(value, h5py.Dataset):
            yield prefix + key, value[()]
        else:
            yield from _datasets(value, prefix + key + "/")


def ported(model, wave: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    with torch.inference_mode():
        x = LogMel(FRONTEND)(torch.from_numpy(wave)[None]).unsqueeze(1)
        features, _ = model.blocks_forward(x, pooling="pre")
        probs = torch.sigmoid(model(x))[0].numpy()
    return probs, [f[0].numpy() for f in features]


def synthetic(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(FRONTEND.n_samples) / FRONTEND.sample_rate
    notes = 220 * 2 ** (rng.integers(0, 24, 40) / 12)
    f0 = np.repeat(notes, math.ceil(len(t) / 40))[: len(t)]
    tone = sum(np.sin(2 * np.pi * k * np.cumsum(f0) / FRONTEND.sample_rate) / k for k in range(1, 6))
    return (0.2 * tone + 0.02 * rng.standard_normal(len(t))).astype(np.float32)


def assert_port_matches(hdf5, wave: np.ndarray) -> None:
    model = convert(hdf5)
    assert model.spec.tags == MSD_TOP50 and model.spec.frontend == FRONTEND
    probs, features = ported(model, wave)
    ref_probs, ref_features = reference(hdf5, wave)
    np.testing.assert_allclose(probs, ref_probs, rtol=1e-4, atol=1e-6)
    for ours, theirs in zip(features, ref_features, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("seed", [0, 1])
def test_port_matches_numpy_reference(hdf5, seed):
    assert_port_matches(hdf5, synthetic(seed))


@pytest.mark.skipif(not REAL_AUDIO, reason="set MIRTRANSFER_REAL_AUDIO to a folder of real recordings")
def test_port_matches_numpy_reference_on_real_audio(hdf5):
    files = sorted(p for p in Path(REAL_AUDIO).iterdir() if p.suffix in (".ogg", ".flac", ".wav", ".mp3"))[:3]
    assert files, f"no audio in {REAL_AUDIO}"
    for path in files:
        wave, rate = load_mono(path, max_seconds=FRONTEND.duration + 1)
        assert_port_matches(hdf5, fit_length(Resampler(FRONTEND.sample_rate)(wave, rate), FRONTEND.n_samples, "zero"))


def test_convert_file_checks_sha256_and_duration(hdf5, tmp_path):
    weights, spec = tmp_path / "model.pt", tmp_path / "model.json"
    with pytest.raises(NotChoi2017Model, match="sha256 .* differs from the expected 0{64}"):
        convert_file(hdf5, weights, spec, expected_sha256="0" * 64)
    assert not weights.exists() and not spec.exists()
    with pytest.raises(ValueError, match=f"at least {MIN_FEATURE_SECONDS} s"):
        frontend("choi2017", 6.0)
    convert_file(hdf5, weights, spec, duration=7.0)
    model = load_model(weights, spec)
    assert model.spec.frontend.duration == 7.0 and model.spec.source["type"] == "choi2017"
    # 7 s excerpts give all five pre-pool layer features.
    x = LogMel(model.spec.frontend)(torch.from_numpy(synthetic(0)[: model.spec.frontend.n_samples])[None]).unsqueeze(1)
    features, _ = model.blocks_forward(x, pooling="pre")
    assert [tuple(f.shape) for f in features] == [(1, 32)] * 5


def test_tagging_files_and_folders(hdf5, tmp_path):
    model = convert(hdf5)
    write_tone(tmp_path / "songs" / "a.wav", 30.0, 22050, freq=330)
    write_tone(tmp_path / "songs" / "sub" / "b.flac", 10.0, 44100, freq=660)
    (tmp_path / "songs" / "broken.wav").write_text("not audio")
    table = tag_files(model, [tmp_path / "songs"], top_k=3)
    good = table[table["error"] == ""]
    assert sorted(set(good["path"].map(lambda p: Path(p).name))) == ["a.wav", "b.flac"]
    assert good.groupby("path")["rank"].apply(list).tolist() == [[1, 2, 3], [1, 2, 3]]
    assert set(good["tag"]) <= set(MSD_TOP50) and good["probability"].between(0, 1).all()
    assert good.set_index(good["path"].map(lambda p: Path(p).name))["padded"].groupby(level=0).first().to_dict() == {
        "a.wav": True, "b.flac": True}  # a.wav: 30 s, so its second excerpt (1 s of audio) is padded
    assert "not decodable" in table.loc[table["path"].str.endswith("broken.wav"), "error"].item()
    model.spec.frontend = frontend("choi2017", 8.0)
    with pytest.raises(ValueError, match=r"tag head needs excerpts of at least 27.286 s \(1280 frames\)"):
        tag_files(model, [tmp_path / "songs" / "a.wav"])


def test_foreign_and_corrupt_files_are_refused(hdf5, tmp_path):
    broken = tmp_path / "broken.hdf5"
    broken.write_bytes(hdf5.read_bytes()[:5000])
    with pytest.raises(NotChoi2017Model, match="not a readable HDF5 file"):
        convert(broken)
    other = tmp_path / "other.hdf5"
    with h5py.File(other, "w") as f:
        f.attrs["model_config"] = '{"class_name": "Sequential", "config": {"layers": [{"class_name": "Dense", "config": {}}]}}'
    with pytest.raises(NotChoi2017Model, match="are not those of the authors' convnet"):
        convert(other)
    text = tmp_path / "notes.hdf5"
    text.write_text("hello")
    with pytest.raises(NotChoi2017Model, match="not a readable HDF5 file"):
        convert(text)


def test_a_short_tail_excerpt_barely_counts(hdf5, tmp_path):
    """30.01 s: the second excerpt is 1.01 s of audio and 28 s of zeros; it weighs 1.01/29."""
    model = convert(hdf5)
    tail = 12120  # 1.01 s
    sf.write(tmp_path / "song.wav", np.concatenate([synthetic(0), synthetic(1)[:tail]]), FRONTEND.sample_rate)
    both = tag_files(model, [tmp_path / "song.wav"], top_k=50, max_excerpts=2).set_index("tag")
    first = tag_files(model, [tmp_path / "song.wav"], top_k=50, max_excerpts=1).set_index("tag")
    sf.write(tmp_path / "tail.wav", synthetic(1)[:tail], FRONTEND.sample_rate)  # the second excerpt alone
    second = tag_files(model, [tmp_path / "tail.wav"], top_k=50, max_excerpts=1).set_index("tag")
    assert both["excerpts"].iloc[0] == 2 and both["padded"].all() and not first["padded"].any()
    weight = (tail / FRONTEND.sample_rate) / FRONTEND.duration
    p1, p2 = first["probability"].reindex(both.index), second["probability"].reindex(both.index)
    np.testing.assert_allclose(both["probability"], (p1 + weight * p2) / (1 + weight), atol=1e-6)
    assert (p1 - p2).abs().max() > 0.01  # the two excerpts differ, so the weight shows


def test_tagging_command_errors_are_one_line(hdf5, tmp_path):
    with pytest.raises(SystemExit, match=r"^mirtransfer.tagging: .*nowhere holds no model.json"):
        tagging_main([str(tmp_path / "nowhere"), str(tmp_path)])
    convert_file(hdf5, tmp_path / "m" / "model.pt", tmp_path / "m" / "model.json")
    with pytest.raises(SystemExit, match=r"^mirtransfer.tagging: .*no such file or folder to tag"):
        tagging_main([str(tmp_path / "m"), str(tmp_path / "missing.wav")])
    with pytest.raises(SystemExit, match=r"tag head needs excerpts of at least 27.286 s"):
        tagging_main([str(tmp_path / "m"), str(tmp_path), "--duration", "10"])


def test_the_features_job_refuses_excerpts_too_short_for_its_pooling(hdf5, tmp_path):
    """8 s excerpts: enough for the pre-pool features, too few frames for features after every pool."""
    for name in ("a", "b"):
        write_tone(tmp_path / "audio" / "x" / f"{name}.wav", 2.0, 12000)
    write_manifest(build_manifest("d", {"type": "folder_per_class", "root": str(tmp_path / "audio")}),
                   tmp_path / "manifest.parquet", {"dataset": "d", "root": str(tmp_path / "audio")})
    run_shard(tmp_path / "manifest.parquet", 0, 1, frontend={"preset": "choi2017", "duration": 8.0},
              excerpts={"policy": "first", "pad": "repeat"}, melspec={"batch_size": 8, "dtype": "float16"},
              strict=True, mel_out=tmp_path / "mel.parquet", rejected_out=tmp_path / "rejected.csv")
    model, table = convert(hdf5, duration=8.0), MelTable([tmp_path / "mel.parquet"])
    ids, pre = layer_features(model, table, pooling="pre")
    assert ids == ["x/a", "x/b"] and [f.shape for f in pre] == [(2, 32)] * 5
    with pytest.raises(ExcerptTooShort, match=r"^the model's five layer features needs excerpts of at least 27.286 s "
                                              r"\(1280 frames\) with pooling 'post'.*or use pooling: pre$"):
        layer_features(model, table, pooling="post")
