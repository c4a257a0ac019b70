"""Independent float64 numpy forward pass of the Choi et al. (ISMIR 2017) Keras-1/Theano convnet.

A test oracle, written only from ../shared/choi2017/README.md (sections "data_feats/" and
"weights_transfer/") and the brief that commissioned it; numpy and h5py only.

Facts implemented (README unless marked "brief"):
- Weights: a Keras 1 ``save_weights`` HDF5 file (``weights_transfer/weights_theano.hdf5`` is the whole
  network).  ``melgram/param_0``, ``param_1``: (512, 1, 1, 257) real / imaginary DFT kernels;
  ``melgram/param_2``: (257, 96) mel filterbank; ``ConvBNEluDr/convolution2d_<k>_W`` (32, in, 3, 3)
  channels first, ``_b``, ``batchnormalization_<k>_gamma`` / ``_beta`` (running mean / std unused);
  ``dense_1/dense_1_W`` (32, 50), ``dense_1_b`` (50,).
- Front end (kapre 2017, Theano): 256 zeros on each side of the waveform, frames of 512 samples every
  256, the first 1 + n_samples // 256 kept (1360 for 348,000 samples).  Theano's convolution flips
  the DFT kernels in time: real[k] = sum_n frame[n] * param_0[511 - n, 0, 0, k], likewise imaginary.
  power = real^2 + imag^2; mel = power @ param_2, laid out (96 mel, frames).
  dB = 10 log10(max(mel, 1e-10)) minus a reference, floored at -80.  Reference: the maximum of the
  whole batch tensor (2017 kapre, ``db_scope='batch'``) or, as an option from the brief, each clip's
  own maximum (``db_scope='clip'``).  No input normalisation.
- Five blocks, channels first (n, 32, mel, time): Convolution2D 32 x 3x3 'same' (zero padding 1),
  Theano true convolution (kernel flipped in both spatial axes), plus bias; BatchNormalization mode 2
  = statistics of the current batch: per channel, mean and biased variance over (clips, mel, time),
  epsilon 1e-3, then gamma and beta; ELU (alpha 1); MaxPooling2D, no padding, remainder dropped,
  pools (mel, time) = (2,4), (3,4), (2,5), (2,4), (4,4).
- Layer feature i (data_feats ``<dataset>_layer_<i-1>.npy``): global average over (mel, time) of
  block i's output AFTER its max-pooling.
- Head: Flatten + Dense 50 + sigmoid (MSD top-50 tags).  For 29 s the block-5 map is 1 x 1, so
  Flatten gives 32 values; for a longer map the brief says to take the global maximum (an extension:
  the Keras-1 Flatten + Dense(32 -> 50) only accepts a 1 x 1 map).  Block 5's map is empty below
  1280 frames (n_samples < 327,424, about 27.3 s), so such input is refused.
"""
import h5py
import numpy as np

POOLS = [(2, 4), (3, 4), (2, 5), (2, 4), (4, 4)]
N_DFT, HOP = 512, 256


def _load(hdf5_path):
    with h5py.File(hdf5_path, "r") as f:
        g = lambda path: np.asarray(f[path], dtype=np.float64)  # noqa: E731
        w = {
            "real": g("melgram/param_0")[:, 0, 0, :],  # (512, 257)
            "imag": g("melgram/param_1")[:, 0, 0, :],
            "mel": g("melgram/param_2"),  # (257, 96)
            "dense_W": g("dense_1/dense_1_W"),
            "dense_b": g("dense_1/dense_1_b"),
        }
        for k in range(1, 6):
            c = "ConvBNEluDr/"
            w[k] = (g(f"{c}convolution2d_{k}_W"), g(f"{c}convolution2d_{k}_b"),
                    g(f"{c}batchnormalization_{k}_gamma"), g(f"{c}batchnormalization_{k}_beta"))
    return w


def _decibel_melgram(waves, w, db_scope):
    n, length = waves.shape
    n_frames = 1 + length // HOP
    padded = np.pad(waves, ((0, 0), (N_DFT // 2, N_DFT // 2)))
    idx = np.arange(n_frames)[:, None] * HOP + np.arange(N_DFT)[None, :]
    frames = padded[:, idx]  # (n, frames, 512)
    # Theano convolution flips the kernel in time: frame[n] meets kernel[511 - n].
    real = frames @ w["real"][::-1]
    imag = frames @ w["imag"][::-1]
    mel = ((real ** 2 + imag ** 2) @ w["mel"]).transpose(0, 2, 1)  # (n, 96, frames)
    db = 10.0 * np.log10(np.maximum(mel, 1e-10))
    if db_scope == "batch":
        db = db - db.max()
    elif db_scope == "clip":
        db = db - db.max(axis=(1, 2), keepdims=True)
    else:
        raise ValueError(f"db_scope must be 'batch' or 'clip', not {db_scope!r}")
    return np.maximum(db, -80.0)[:, None]  # (n, 1, 96, frames)


def _conv_same_theano(x, kernel, bias):
    """x (n, in, H, W); kernel (out, in, 3, 3) applied as a true convolution (flipped), zero pad 1."""
    n, _, h, wd = x.shape
    flipped = kernel[:, :, ::-1, ::-1]
    xp = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    out = np.zeros((n, h, wd, kernel.shape[0]))
    for dy in range(3):
        for dx in range(3):
            out += np.tensordot(xp[:, :, dy:dy + h, dx:dx + wd], flipped[:, :, dy, dx], axes=([1], [1]))
    return out.transpose(0, 3, 1, 2) + bias[None, :, None, None]


def _batchnorm_mode2(x, gamma, beta, eps=1e-3):
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    var = x.var(axis=(0, 2, 3), keepdims=True)  # biased
    return (x - mean) / np.sqrt(var + eps) * gamma[None, :, None, None] + beta[None, :, None, None]


def _maxpool(x, ph, pw):
    n, c, h, wd = x.shape
    h2, w2 = h // ph, wd // pw
    x = x[:, :, :h2 * ph, :w2 * pw].reshape(n, c, h2, ph, w2, pw)
    return x.max(axis=(3, 5))


def reference_forward(hdf5_path, waves: np.ndarray, db_scope: str) -> tuple[np.ndarray, list[np.ndarray]]:
    """waves: (n_clips, n_samples) mono audio at 12 kHz (any length >= 27.3 s worth for the tag head; use 348000 samples = 29 s in typical use).
    db_scope: 'batch' -> decibel reference = maximum over the whole batch tensor (all clips, all bins, all frames) as 2017 kapre did;
              'clip'  -> decibel reference = each clip's own maximum.
    Batch normalisation always uses the statistics of ALL n clips given (Keras 1 BatchNormalization mode=2: per channel, mean and biased variance over (clips, mel, time), epsilon 1e-3, then gamma and beta).
    Returns (tag probabilities (n, 50), [five arrays (n, 32)]: global average of each block's output AFTER its max-pooling)."""
    waves = np.atleast_2d(np.asarray(waves, dtype=np.float64))
    if 1 + waves.shape[1] // HOP < 1280:
        raise ValueError(f"{waves.shape[1]} samples give fewer than 1280 frames; block 5's map would be empty")
    w = _load(hdf5_path)
    x = _decibel_melgram(waves, w, db_scope)
    features = []
    for k, (ph, pw) in enumerate(POOLS, start=1):
        kernel, bias, gamma, beta = w[k]
        x = _batchnorm_mode2(_conv_same_theano(x, kernel, bias), gamma, beta)
        x = np.where(x > 0, x, np.expm1(np.minimum(x, 0.0)))  # ELU, alpha 1
        x = _maxpool(x, ph, pw)
        features.append(x.mean(axis=(2, 3)))
    h = x.max(axis=(2, 3))  # == Flatten for the 1 x 1 map of 29 s input
    logits = h @ w["dense_W"] + w["dense_b"]
    return 1.0 / (1.0 + np.exp(-logits)), features
