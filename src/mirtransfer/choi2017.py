"""The authors' trained convnet (``keras2_model/model_best.hdf5``) converted to this project's model.

The file was saved by Keras 2.1.1 with kapre 0.1.2: a kapre mel-spectrogram layer
(12 kHz, 512-point DFT kernels, hop 256, 96 Slaney mel bins up to 6 kHz, 'SAME'
padding, decibels relative to the maximum, floored at -80 dB), a per-sample
normalisation, five conv / batch-norm / ELU / max-pool blocks and a 50-tag sigmoid
head over the global maximum. The HDF5 is read with h5py alone; a file of another
architecture is refused in one line.

The converted model reads Parquet spectrograms made with this front end (the mel
path's ``padding: same`` and ``db_range: 80``), so extraction and evaluation treat it
as any other model. Its convolutions accept any length: the excerpt ``duration`` is
a conversion option, at least MIN_FEATURE_SECONDS for the five pre-pool layer
features and MIN_TAGGING_SECONDS for tags (the last block must keep one frame).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from mirtransfer.files import sha256
from mirtransfer.frontend import PRESETS, FrontEnd, LogMel, from_config
from mirtransfer.model import ConvNet, ModelSpec, save_model

MODEL_URL = "https://raw.githubusercontent.com/keunwoochoi/transfer_learning_music/master/keras2_model/model_best.hdf5"
MODEL_SHA256 = "b5042bd44de1fdd9d757b764d9246e6934f47c8bdc5c15bf13566495f3439d48"

# The Million Song Dataset top-50 tags in the order of the model's outputs.
MSD_TOP50 = [
    "rock", "pop", "alternative", "indie", "electronic", "female vocalists", "dance", "00s", "alternative rock",
    "jazz", "beautiful", "metal", "chillout", "male vocalists", "classic rock", "soul", "indie rock", "Mellow",
    "electronica", "80s", "folk", "90s", "chill", "instrumental", "punk", "oldies", "blues", "hard rock", "ambient",
    "acoustic", "experimental", "female vocalist", "guitar", "Hip-Hop", "70s", "party", "country", "easy listening",
    "sexy", "catchy", "funk", "electro", "heavy metal", "Progressive rock", "60s", "rnb", "indie pop", "sad", "House",
    "happy",
]
# Its front end: kapre's, with the decibel maximum taken per clip.
FRONTEND = PRESETS["choi2017"]
POOLS = [(2, 4), (3, 4), (2, 5), (2, 4), (4, 4)]
# Frames the time pools need: before the last pool (pre-pool features) and after it (tags).
_MIN_FRAMES_FEATURES = math.prod(t for _, t in POOLS[:-1])
_MIN_FRAMES_TAGS = math.prod(t for _, t in POOLS)
MIN_FEATURE_SECONDS = round(((_MIN_FRAMES_FEATURES - 1) * FRONTEND.hop_length + 1) / FRONTEND.sample_rate, 3)
MIN_TAGGING_SECONDS = round(((_MIN_FRAMES_TAGS - 1) * FRONTEND.hop_length + 1) / FRONTEND.sample_rate, 3)
_LAYERS = ["Melspectrogram", "Normalization2D"] + ["Conv2D", "BatchNormalization", "ELU", "MaxPooling2D"] * 5 + [
    "GlobalMaxPooling2D", "Dense"]


class NotChoi2017Model(ValueError):
    """The file is not the authors' convnet."""


def _layers(path: Path, f: h5py.File) -> list[dict[str, Any]]:
    try:
        config = json.loads(f.attrs["model_config"])
    except (KeyError, ValueError) as err:
        raise NotChoi2017Model(f"{path}: no Keras model_config in the file") from err
    layers = config["config"]["layers"] if isinstance(config["config"], dict) else config["config"]
    names = [layer["class_name"] for layer in layers]
    if names != _LAYERS:
        raise NotChoi2017Model(f"{path}: layers {names} are not those of the authors' convnet ({_LAYERS})")
    return layers


def _check_frontend(path: Path, layers: list[dict[str, Any]], g: h5py.Group) -> None:
    """The file's mel layer must be the one FRONTEND re-implements."""
    c = layers[0]["config"]
    expected = {"sr": 12000, "n_dft": 512, "n_hop": 256, "n_mels": 96, "fmin": 0.0, "fmax": 6000,
                "padding": "same", "power_melgram": 2.0, "return_decibel_melgram": True}
    wrong = {k: c.get(k) for k, v in expected.items() if c.get(k) != v}
    if wrong or layers[1]["config"].get("str_axis") != "data_sample":
        raise NotChoi2017Model(f"{path}: front-end settings {wrong or layers[1]['config']} differ from the authors' model")
    logmel = LogMel(FRONTEND)
    fbank = logmel.fbank2[::2].numpy()
    n = np.arange(FRONTEND.n_fft)
    dft = logmel.window.numpy()[:, None] * np.exp(2j * np.pi * np.outer(n, np.arange(FRONTEND.n_fft // 2 + 1)) / FRONTEND.n_fft)
    checks = {
        "mel filterbank": (g["Variable:0"][:], fbank),
        "real DFT kernels": (g["real_kernels:0"][:, 0, 0, :], dft.real),
        "imaginary DFT kernels": (g["imag_kernels:0"][:, 0, 0, :], dft.imag),
    }
    for name, (stored, ours) in checks.items():
        if stored.shape != ours.shape or np.abs(stored - ours).max() > 1e-5:
            raise NotChoi2017Model(f"{path}: its {name} differ from the re-implemented front end")


def frontend(duration: float = FRONTEND.duration) -> FrontEnd:
    """The model's front end with another excerpt duration (at least MIN_FEATURE_SECONDS)."""
    if duration < MIN_FEATURE_SECONDS:
        raise ValueError(f"the authors' convnet needs excerpts of at least {MIN_FEATURE_SECONDS} s "
                         f"({_MIN_FRAMES_FEATURES} frames) for its five layer features, not {duration} s")
    return from_config({"preset": "choi2017", "duration": duration})


def convert(path: str | Path, duration: float = FRONTEND.duration) -> ConvNet:
    """Read the authors' HDF5 and return the equivalent ConvNet in inference mode.

    duration: the excerpt length (seconds) recorded in the model's front end.
    """
    path = Path(path)
    excerpt = frontend(duration)
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise NotChoi2017Model(f"{path}: not a readable HDF5 file ({err})") from err
    with f:
        layers = _layers(path, f)
        w = f["model_weights"]
        _check_frontend(path, layers, w["melgram/melgram"])
        pools = [tuple(layer["config"]["pool_size"]) for layer in layers if layer["class_name"] == "MaxPooling2D"]
        if pools != POOLS:
            raise NotChoi2017Model(f"{path}: max-pool sizes {pools} are not the authors' {POOLS}")
        spec = ModelSpec(excerpt, list(MSD_TOP50), channels=32, pools=pools, input_norm="sample", bn_eps=1e-3,
                         source={"type": "choi2017", "file": str(path)})
        model = ConvNet(spec)
        state = {}
        try:
            for i in range(5):
                conv, bn = w[f"conv2d_{i + 1}/conv2d_{i + 1}"], w[f"batch_normalization_{i + 1}/batch_normalization_{i + 1}"]
                state[f"blocks.{i}.conv.weight"] = torch.from_numpy(conv["kernel:0"][:].transpose(3, 2, 0, 1).copy())
                state[f"blocks.{i}.conv.bias"] = torch.from_numpy(conv["bias:0"][:])
                state[f"blocks.{i}.bn.weight"] = torch.from_numpy(bn["gamma:0"][:])
                state[f"blocks.{i}.bn.bias"] = torch.from_numpy(bn["beta:0"][:])
                state[f"blocks.{i}.bn.running_mean"] = torch.from_numpy(bn["moving_mean:0"][:])
                state[f"blocks.{i}.bn.running_var"] = torch.from_numpy(bn["moving_variance:0"][:])
                state[f"blocks.{i}.bn.num_batches_tracked"] = torch.tensor(0)
            dense = w["dense_1/dense_1"]
            state["head.weight"] = torch.from_numpy(dense["kernel:0"][:].T.copy())
            state["head.bias"] = torch.from_numpy(dense["bias:0"][:])
            model.load_state_dict(state)
        except (KeyError, RuntimeError) as err:
            raise NotChoi2017Model(f"{path}: weights do not fit the authors' convnet ({err})") from err
    return model.eval()


def convert_file(
    hdf5: str | Path,
    weights_out: str | Path,
    spec_out: str | Path,
    *,
    expected_sha256: str | None = MODEL_SHA256,
    duration: float = FRONTEND.duration,
) -> ConvNet:
    """Check the HDF5's sha256 (None skips the check), convert it and save the project's weights and spec."""
    if expected_sha256 is not None:
        actual = sha256(hdf5)
        if actual != expected_sha256:
            raise NotChoi2017Model(f"{hdf5}: sha256 {actual} differs from the expected {expected_sha256}; "
                                   "use the authors' model_best.hdf5, or set the model's sha256 to this file's")
    model = convert(hdf5, duration)
    model.spec.source["sha256"] = expected_sha256 or sha256(hdf5)
    save_model(model, weights_out, spec_out)
    return model
