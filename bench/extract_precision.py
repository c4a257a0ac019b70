"""Layer features and tag probabilities on a GPU against a float64 CPU reference, and their speed.

cuDNN may run float32 convolutions in TF32 (10-bit mantissa) on Ampere and later GPUs.
This measures how far the five pooled layer features and the tag probabilities of the
authors' convnet (or a random-weights convnet) move from a float64 CPU forward pass with
TF32 allowed, with it disabled (what the project's extraction uses), and with bf16
autocast, and times each on the same clips.

Usage: python bench/extract_precision.py [--hdf5 model_best.hdf5] [--clips 128] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import contextlib
import time

import numpy as np
import torch

from mirtransfer.choi2017 import FRONTEND
from mirtransfer.convert import convert
from mirtransfer.logmel import LogMel
from mirtransfer.model import ConvNet, build_model, float32_convolutions
from mirtransfer.modelspec import ModelSpec


def clips(n: int, seconds: float, rate: int) -> torch.Tensor:
    """Music-like test signals: a few partials with vibrato and a noise floor."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * rate)) / rate
    out = np.empty((n, len(t)), np.float32)
    for i in range(n):
        f0 = rng.uniform(80, 800)
        tone = sum(np.sin(2 * np.pi * k * f0 * t + 0.5 * np.sin(2 * np.pi * rng.uniform(3, 7) * t)) / k for k in range(1, 6))
        out[i] = 0.2 * tone * (1 + np.sin(2 * np.pi * rng.uniform(0.5, 2) * t)) + 0.02 * rng.standard_normal(len(t))
    return torch.from_numpy(out)


def forward(model: ConvNet, mel: torch.Tensor, batch_size: int, device: torch.device,
            mode: str) -> tuple[np.ndarray, np.ndarray]:
    """(the five blocks' pooled features side by side, probabilities) for every clip; mode fp64 | tf32 | fp32 | bf16."""
    model = model.to(device, torch.float64 if mode == "fp64" else torch.float32).eval()
    dtype = torch.float64 if mode == "fp64" else torch.float32
    precise = float32_convolutions() if mode in ("fp32", "bf16", "fp64") else contextlib.nullcontext()
    feats, probs = [], []
    with torch.inference_mode(), precise, torch.autocast(device.type, torch.bfloat16, enabled=mode == "bf16"):
        for start in range(0, len(mel), batch_size):
            x = mel[start:start + batch_size].to(device, dtype)
            pooled, _ = model.blocks_forward(x, pooling="pre")
            feats.append(torch.cat(pooled, 1).float().cpu())
            probs.append(torch.sigmoid(model(x)).float().cpu())
    return torch.cat(feats).numpy(), torch.cat(probs).numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hdf5", help="the authors' model_best.hdf5 (default: a random-weights convnet)")
    parser.add_argument("--clips", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    torch.backends.cudnn.allow_tf32 = True  # torch's default for convolutions
    model = convert(args.hdf5) if args.hdf5 else build_model(ModelSpec(FRONTEND, [f"t{i}" for i in range(50)]), seed=0)
    with torch.inference_mode():
        mel = LogMel(FRONTEND)(clips(args.clips, FRONTEND.duration, FRONTEND.sample_rate)).unsqueeze(1)
    cpu = torch.device("cpu")
    ref_feats, ref_probs = forward(model, mel, args.batch_size, cpu, "fp64")
    device = torch.device("cuda") if torch.cuda.is_available() else cpu
    name = torch.cuda.get_device_name() if device.type == "cuda" else "CPU"
    print(f"{args.clips} clips of {FRONTEND.duration} s, batch {args.batch_size}, {name}, "
          f"{'authors convnet' if args.hdf5 else 'random convnet'}; error against float64 on the CPU")
    modes = [("cpu", "fp32")] + [(device.type, m) for m in ("tf32", "fp32", "bf16")] * (device.type == "cuda")
    for where, mode in modes:
        dev = torch.device(where)
        forward(model, mel[: args.batch_size], args.batch_size, dev, mode)  # warm-up
        if dev.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        feats, probs = forward(model, mel, args.batch_size, dev, mode)
        seconds = time.perf_counter() - t0
        scale = np.abs(ref_feats).max(0) + 1e-12
        feat_err = float((np.abs(feats - ref_feats) / scale).max())
        prob_err = float(np.abs(probs - ref_probs).max())
        print(f"  {where:4s} {mode:5s} features max err / column max {feat_err:9.2e}   "
              f"probabilities max abs err {prob_err:9.2e}   {args.clips / seconds:9.1f} clips/s")


if __name__ == "__main__":
    main()
