"""The authors' trained convnet (``keras2_model/model_best.hdf5``) converted to this project's model.

The file was saved by Keras 2.1.1 with kapre 0.1.2: a kapre mel-spectrogram layer
(12 kHz, 512-point DFT kernels, hop 256, 96 Slaney mel bins up to 6 kHz, 'SAME'
padding, decibels relative to the maximum, floored at -80 dB), a per-sample
normalisation, five conv / batch-norm / ELU / max-pool blocks and a 50-tag sigmoid
head over the global maximum. The HDF5 is read with h5py alone; a file of another
architecture is refused in one line.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import torch

from mirtransfer.frontend import FrontEnd, LogMel
from mirtransfer.model import ConvNet, ModelSpec

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
FRONTEND = FrontEnd(sample_rate=12000, n_fft=512, hop_length=256, n_mels=96, f_min=0.0, f_max=6000.0,
                    duration=29.0, padding="same", db_range=80.0)
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


def convert(path: str | Path) -> ConvNet:
    """Read the authors' HDF5 and return the equivalent ConvNet in inference mode."""
    path = Path(path)
    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise NotChoi2017Model(f"{path}: not a readable HDF5 file ({err})") from err
    with f:
        layers = _layers(path, f)
        w = f["model_weights"]
        _check_frontend(path, layers, w["melgram/melgram"])
        pools = [tuple(layer["config"]["pool_size"]) for layer in layers if layer["class_name"] == "MaxPooling2D"]
        spec = ModelSpec(FRONTEND, list(MSD_TOP50), channels=32, pools=pools, input_norm="sample", bn_eps=1e-3,
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
