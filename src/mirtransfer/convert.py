"""The authors' convnets converted to this project's model: the paper's and a later re-training.

``choi2017_paper``: the network of the paper (``weights_transfer/weights_theano.hdf5``,
Keras 1 with Theano), which produced the released features and the published scores:
the 2017 kapre front end (the stored DFT kernels applied by Theano's convolution, so
each frame reversed; 256 zeros on each side; decibels relative to the batch's maximum,
floored at -80 dB), no input normalisation, five blocks whose convolutions Theano
flipped and whose batch norm (mode 2) used the statistics of each batch, also at test
time, and a dense 50-tag head. The facts and their check against the released features
are in the shared README of the authors' artefacts and in their code
(``models_transfer.py``, ``utils_featext.py``).

``choi2017``: ``keras2_model/model_best.hdf5``, a later re-training. The file was saved by Keras 2.1.1 with kapre 0.1.2: a kapre mel-spectrogram layer
(12 kHz, 512-point DFT kernels, hop 256, 96 Slaney mel bins up to 6 kHz, 'SAME'
padding, decibels relative to the maximum, floored at -80 dB), a per-sample
normalisation, five conv / batch-norm / ELU / max-pool blocks and a 50-tag sigmoid
head over the global maximum. The HDF5 is read with h5py alone; a file of another
architecture is refused in one line.

The converted model reads Parquet spectrograms made with this front end (the mel
path's ``padding: same`` and ``db_range: 80``), so extraction and evaluation treat it
as any other model. Its convolutions accept any length: the excerpt ``duration`` is
a conversion option, at least MIN_FEATURE_SECONDS for the five pre-pool layer
features and 27.286 s for tags (the last block must keep one frame; the features and
tag jobs check it with :func:`mirtransfer.modelspec.check_excerpt`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from mirtransfer.choi2017 import (FRONTEND, MODEL_FILES, MODEL_SHA256, MSD_TOP50, PAPER_FRONTEND, POOLS,
                                  frontend)
from mirtransfer.errors import UserError
from mirtransfer.files import sha256
from mirtransfer.frontend import FrontEnd
from mirtransfer.logmel import LogMel
from mirtransfer.model import ConvNet, save_model
from mirtransfer.modelspec import ModelSpec

_PAPER_GROUPS = ["melgram", "ConvBNEluDr", "flatten_1", "dense_1"]
_LAYERS = ["Melspectrogram", "Normalization2D"] + ["Conv2D", "BatchNormalization", "ELU", "MaxPooling2D"] * 5 + [
    "GlobalMaxPooling2D", "Dense"]


class NotChoi2017Model(UserError, ValueError):
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
    _check_kernels(path, FRONTEND, g["real_kernels:0"], g["imag_kernels:0"], g["Variable:0"])


def _check_kernels(path: Path, frontend: FrontEnd, real: h5py.Dataset, imag: h5py.Dataset, fbank: h5py.Dataset) -> None:
    """The stored DFT kernels and mel filterbank must be the ones LogMel computes for ``frontend``."""
    logmel = LogMel(frontend)
    n = np.arange(frontend.n_fft)
    dft = logmel.window.numpy()[:, None] * np.exp(2j * np.pi * np.outer(n, np.arange(frontend.n_fft // 2 + 1)) / frontend.n_fft)
    checks = {
        "mel filterbank": (fbank[:], logmel.fbank.numpy()),
        "real DFT kernels": (real[:, 0, 0, :], dft.real),
        "imaginary DFT kernels": (imag[:, 0, 0, :], dft.imag),
    }
    for name, (stored, ours) in checks.items():
        if stored.shape != ours.shape or np.abs(stored - ours).max() > 1e-5:
            raise NotChoi2017Model(f"{path}: its {name} differ from the re-implemented front end")


def _open(path: Path) -> h5py.File:
    """The HDF5 file, or NotChoi2017Model in one line."""
    try:
        return h5py.File(path, "r")
    except OSError as err:
        raise NotChoi2017Model(f"{path}: not a readable HDF5 file ({err})") from err


def convert(path: str | Path, duration: float = FRONTEND.duration) -> ConvNet:
    """Read the authors' HDF5 and return the equivalent ConvNet in inference mode.

    duration: the excerpt length (seconds) recorded in the model's front end.
    """
    path = Path(path)
    excerpt = frontend("choi2017", duration)
    with _open(path) as f:
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


def convert_paper(path: str | Path, duration: float = PAPER_FRONTEND.duration) -> ConvNet:
    """Read the paper's Keras-1/Theano weights (``weights_theano.hdf5``) and return the equivalent ConvNet.

    Theano's convolutions flip their kernels: the stored (out, in, 3, 3) kernels are flipped
    in both spatial axes into torch's cross-correlation. Batch norm uses batch statistics
    (the stored running mean and std, 0 and 1, were never used).
    """
    path = Path(path)
    excerpt = frontend("choi2017_paper", duration)
    with _open(path) as f:
        groups = [n.decode() if isinstance(n, bytes) else str(n) for n in f.attrs.get("layer_names", [])]
        if groups != _PAPER_GROUPS:
            raise NotChoi2017Model(f"{path}: layer groups {groups} are not those of the paper's convnet "
                                   f"({_PAPER_GROUPS}, weights_transfer/weights_theano.hdf5)")
        mel, w, dense = f["melgram"], f["ConvBNEluDr"], f["dense_1"]
        blocks = sum(f"convolution2d_{i}_W" in w for i in range(1, 6))
        if blocks < 5:
            raise NotChoi2017Model(f"{path}: holds blocks 1-{blocks} only (weights_layer{blocks - 1}_theano.hdf5, a "
                                   "truncation); use weights_theano.hdf5, the whole network")
        try:
            _check_kernels(path, PAPER_FRONTEND, mel["param_0"], mel["param_1"], mel["param_2"])
        except KeyError as err:
            raise NotChoi2017Model(f"{path}: no DFT kernels or mel filterbank in its melgram group ({err})") from err
        spec = ModelSpec(excerpt, list(MSD_TOP50), channels=32, pools=POOLS, input_norm="none", bn_eps=1e-3,
                         db_range=80.0, batch_statistics=True, source={"type": "choi2017_paper", "file": str(path)})
        model = ConvNet(spec)
        state = {}
        try:
            for i in range(5):
                kernel = w[f"convolution2d_{i + 1}_W"][:]
                state[f"blocks.{i}.conv.weight"] = torch.from_numpy(kernel[:, :, ::-1, ::-1].copy())
                state[f"blocks.{i}.conv.bias"] = torch.from_numpy(w[f"convolution2d_{i + 1}_b"][:])
                state[f"blocks.{i}.bn.weight"] = torch.from_numpy(w[f"batchnormalization_{i + 1}_gamma"][:])
                state[f"blocks.{i}.bn.bias"] = torch.from_numpy(w[f"batchnormalization_{i + 1}_beta"][:])
            state["head.weight"] = torch.from_numpy(dense["dense_1_W"][:].T.copy())
            state["head.bias"] = torch.from_numpy(dense["dense_1_b"][:])
            model.load_state_dict(state)
        except (KeyError, RuntimeError) as err:
            raise NotChoi2017Model(f"{path}: weights do not fit the paper's convnet ({err})") from err
    return model.eval()


# Model type (choi2017.MODEL_FILES) -> its converter.
CONVERTERS = {"choi2017": convert, "choi2017_paper": convert_paper}


def convert_file(
    hdf5: str | Path,
    weights_out: str | Path,
    spec_out: str | Path,
    *,
    kind: str = "choi2017",
    expected_sha256: str | None = MODEL_SHA256,
    duration: float = FRONTEND.duration,
) -> ConvNet:
    """Check the HDF5's sha256 (None skips the check), convert it as model type ``kind`` and
    save the project's weights and spec."""
    converter, (_, name) = CONVERTERS[kind], MODEL_FILES[kind]
    if expected_sha256 is not None:
        actual = sha256(hdf5)
        if actual != expected_sha256:
            raise NotChoi2017Model(f"{hdf5}: sha256 {actual} differs from the expected {expected_sha256}; "
                                   f"use the authors' {name}, or set the model's sha256 to this file's")
    model = converter(hdf5, duration)
    model.spec.source["sha256"] = expected_sha256 or sha256(hdf5)
    save_model(model, weights_out, spec_out)
    return model
