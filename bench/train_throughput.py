"""Clips per second for training and feature extraction, with the data path timed apart.

Writes a Parquet spectrogram table of random 29 s clips (96 x 1360, float16), then times:
  memory copy a plain copy of the same bytes, batch by batch (the data path's ceiling);
  data        MelTable batches read and moved to the device (no model);
  train data  one shuffled epoch of SplitStream batches moved to the device (no model);
  train step  forward + backward + Adam step on a batch already on the device;
  extract     inference of the five pooled layers on a batch already on the device;
  train e2e   one shuffled epoch through SplitStream (data path + steps);
  extract e2e layer_features over the whole table (data path + inference).
On CUDA, training uses bf16 autocast and channels-last (--no-amp to turn off); extraction runs
float32 convolutions without TF32, as layer_features does. --compile compiles the model as the
workflow does on CUDA (models.*.compile, features.compile) and prints how far the compiled
extraction step's features are from the eager ones. --profile prints, for 20 batches of the
end-to-end training loop, where the host's and the device's time goes (torch.profiler).

Usage: .venv/bin/python bench/train_throughput.py [--clips 256] [--batch-size 32] [--extract-batch-size 64]
       [--device auto] [--cudnn-benchmark] [--compile] [--fused-adam] [--profile] [--data-only]
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyarrow as pa
import torch

from mirtransfer.features import layer_features
from mirtransfer.frontend import ExcerptPolicy, FrontEnd
from mirtransfer.meltable import MelTable, mel_column, mel_schema, mel_tensor, open_writer
from mirtransfer.model import build_model, compile_on_cuda, device_for, float32_convolutions
from mirtransfer.modelspec import ModelSpec
from mirtransfer.train import SplitStream, train_step


def write_table(path: Path, n: int, fe: FrontEnd, group: int = 64) -> tuple[list[str], np.ndarray]:
    """A spectrogram table of n random clips in row groups of ``group``; the ids and the values written."""
    schema = mel_schema(fe, ExcerptPolicy(), "float16")
    rng = np.random.default_rng(0)
    ids = [f"c{i:06d}" for i in range(n)]
    mel = (rng.standard_normal((n, fe.n_mels * fe.n_frames)) * 20 - 30).astype(np.float16)
    with open_writer(path, schema) as writer:
        for start in range(0, n, group):
            k = min(group, n - start)
            writer.write_table(pa.table([pa.array(ids[start:start + k]), pa.array(np.zeros(k, np.int16)),
                                         mel_column(mel[start:start + k], "float16")], schema=schema), row_group_size=k)
    return ids, mel


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def rate(fn: Callable[[], object], n_clips: int, device: torch.device, repeats: int = 3, calls: int = 1) -> float:
    """Clips per second: the best of ``repeats`` timings of ``calls`` calls, after a warm-up call."""
    fn()  # warm-up
    sync(device)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(calls):
            fn()
        sync(device)
        best = min(best, time.perf_counter() - t0)
    return n_clips * calls / best


def profile_training(stream: SplitStream, step: Callable[[np.ndarray, np.ndarray], object], device: torch.device,
                     n_batches: int = 20) -> None:
    """The host's and the device's time over ``n_batches`` of the training loop, by operation."""
    from torch.profiler import ProfilerActivity, profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        t0 = time.perf_counter()
        done = 0
        for mel, target, _ in itertools.islice(stream.epoch(np.random.default_rng(1)), n_batches):
            step(mel, target)
            done += 1
        sync(device)
        wall = time.perf_counter() - t0
    print(f"profile of {done} training batches: {wall * 1e3 / done:.2f} ms per batch (profiled)")
    for key in ("self_cpu_time_total", "self_device_time_total")[: len(activities)]:
        print(prof.key_averages().table(sort_by=key, row_limit=12, max_name_column_width=60))
    if device.type == "cuda":  # operations that make the host wait for the device: one warning each
        torch.cuda.set_sync_debug_mode("warn")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for mel, target, _ in itertools.islice(stream.epoch(np.random.default_rng(2)), 3):
                step(mel, target)
        torch.cuda.set_sync_debug_mode("default")
        print(f"synchronising operations in 3 training batches: {len(caught)}")
        for w in caught[:10]:
            print(f"  {w.filename}:{w.lineno}: {str(w.message).splitlines()[0][:150]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32, help="training batch (and the data path's)")
    parser.add_argument("--extract-batch-size", type=int, default=64, help="rows per forward pass in extraction")
    parser.add_argument("--cudnn-benchmark", action="store_true", help="let cuDNN time its algorithms first")
    parser.add_argument("--compile", action="store_true", help="torch.compile the model (CUDA only)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-amp", action="store_true")
    parser.add_argument("--fused-adam", action="store_true", help="Adam's fused CUDA kernel (one launch per step)")
    parser.add_argument("--profile", action="store_true", help="profile 20 batches of the training loop")
    parser.add_argument("--data-only", action="store_true", help="time the data paths only (no model)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.backends.cudnn.benchmark = args.cudnn_benchmark
    device = device_for(args.device)
    amp = device.type == "cuda" and not args.no_amp
    fe = FrontEnd()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "mel.parquet"
        ids, values = write_table(path, args.clips, fe)
        table = MelTable([path])
        model = build_model(ModelSpec(fe, [f"t{i}" for i in range(50)]), seed=0).to(device)
        if amp:
            model = model.to(memory_format=torch.channels_last)
        forward = compile_on_cuda(model, device, args.compile)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, fused=args.fused_adam or None)
        loss_fn = torch.nn.BCEWithLogitsLoss()
        x = next(table.iter_batches(args.batch_size)).to_tensor(device)
        if amp:
            x = x.contiguous(memory_format=torch.channels_last)
        y = torch.randint(0, 2, (len(x), 50), device=device).float()
        x_extract = table.take(range(min(args.extract_batch_size, args.clips))).to_tensor(device)

        def step() -> None:
            with torch.autocast(device.type, torch.bfloat16, enabled=amp):
                loss = loss_fn(model(x).float(), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        def infer() -> None:  # as layer_features runs it: float32 convolutions, no TF32
            with torch.inference_mode(), float32_convolutions():
                forward(x_extract, pooling="post")

        def data() -> None:
            for batch in table.iter_batches(args.batch_size):
                batch.to_tensor(device)

        def copy() -> None:  # the same bytes, batch by batch, copied in memory: the data path's ceiling
            for start in range(0, args.clips, args.batch_size):
                values[start:start + args.batch_size].copy()

        stream = SplitStream(table, {c: np.zeros(50, np.float32) for c in ids}, args.batch_size)

        def train_data() -> None:
            for mel, _, _ in stream.epoch(np.random.default_rng(0)):
                mel_tensor(mel, device)

        def train_epoch() -> None:
            model.train()
            for mel, target, _ in stream.epoch(np.random.default_rng(0)):
                train_step(model, optimizer, mel, target, device, amp)

        model.train()
        results = {
            "memory copy (same bytes)": rate(copy, args.clips, device),
            "data (Parquet -> device)": rate(data, args.clips, device),
            "train data (shuffled)": rate(train_data, args.clips, device),
        }
        if not args.data_only:
            steps = 10 if device.type == "cuda" else 1  # one step of a small batch is too short to time alone there
            results["train step (on device)"] = rate(step, len(x), device, calls=steps)
            results["train epoch end to end"] = rate(train_epoch, args.clips, device, repeats=1)
            if args.profile:
                try:
                    profile_training(stream, lambda mel, target: train_step(model, optimizer, mel, target, device, amp),
                                     device)
                except RuntimeError as error:  # a profiler that does not run here is reported, not fatal
                    print(f"profile failed: {error}")
            model.eval()
            model = model.to(memory_format=torch.contiguous_format)
            results["extract step (on device)"] = rate(infer, len(x_extract), device, calls=steps)
            if args.compile and device.type == "cuda":
                with torch.inference_mode(), float32_convolutions():
                    eager = torch.cat(model.blocks_forward(x_extract, pooling="post")[0], 1)
                    compiled = torch.cat(forward(x_extract, pooling="post")[0], 1)
                    scale = eager.abs().amax(0).clamp(min=1e-6)
                print(f"compiled vs eager features: max |diff| {float((compiled - eager).abs().max()):.2e}, "
                      f"max |diff| / feature's max |value| {float(((compiled - eager).abs() / scale).max()):.2e}")
            results["extract end to end"] = rate(
                lambda: layer_features(model, table, pooling="post", batch_size=args.extract_batch_size, device=device,
                                       compile=args.compile),
                args.clips, device, repeats=1)
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {args.threads} threads"
    print(f"{args.clips} clips of 29 s (96 x 1360), batch {args.batch_size} (extraction {args.extract_batch_size}), "
          f"{name}, amp={amp}, cudnn.benchmark={args.cudnn_benchmark}, compile={args.compile}, fused Adam={args.fused_adam}")
    for key, value in results.items():
        print(f"  {key:28s} {value:10.1f} clips/s")
    print(f"  data path / memory copy: {results['data (Parquet -> device)'] / results['memory copy (same bytes)']:.1%}")


if __name__ == "__main__":
    main()
