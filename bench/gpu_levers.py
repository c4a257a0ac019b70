"""The model step under each throughput lever, and the step's memory-traffic ceiling.

Run on a GPU machine as one prepared script (it also runs on the CPU, slowly, for a check).
For the training step (forward + backward + Adam) and the extraction step (the five pooled
layers, float32 convolutions without TF32, as layer_features runs them) it times, on a batch
already on the device:
  cudnn autotuning (torch.backends.cudnn.benchmark) off and on;
  memory format (channels-last or contiguous) and precision (bf16 autocast or float32);
  batch size;
  torch.compile (inductor) in each of --compile-modes (e.g. reduce-overhead: CUDA graphs), where it builds.
It counts the bytes every ATen operation of one step reads and writes (views excluded), per
clip, and divides the device's measured copy bandwidth by it: the step's ceiling when each
operation streams its tensors once through memory (eager PyTorch, no fusion). Results are
printed as they come and written as JSON to --out.

Usage: python bench/gpu_levers.py [--device auto] [--out levers.json] [--no-compile | --compiled-only]
       [--compile-modes default reduce-overhead] [--quick]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from mirtransfer.frontend import FrontEnd
from mirtransfer.model import build_model, device_for, float32_convolutions
from mirtransfer.modelspec import ModelSpec
from train_throughput import rate  # this folder's; the best of three timings after a warm-up


class ByteCounter(TorchDispatchMode):
    """Sums the bytes of every tensor an ATen operation reads or writes; views and metadata ops move none."""

    def __init__(self) -> None:
        super().__init__()
        self.bytes = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        out = func(*args, **(kwargs or {}))
        inputs = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor)]
        outputs = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
        storages = {t.untyped_storage().data_ptr() for t in inputs}
        if outputs and all(t.untyped_storage().data_ptr() in storages for t in outputs) and not func._schema.is_mutable:
            return out  # a view (reshape, transpose, detach): no bytes move
        self.bytes += sum(t.numel() * t.element_size() for t in inputs + outputs)
        return out


def copy_bandwidth(device: torch.device) -> float:
    """Bytes per second read plus written by a device-to-device copy of 2 GiB (256 MiB on the CPU)."""
    n = (2 << 30 if device.type == "cuda" else 256 << 20) // 4
    a = torch.empty(n, device=device)
    b = torch.empty_like(a)
    return rate(lambda: b.copy_(a), 1, device, calls=5) * 2 * a.numel() * 4


def make_step(model: torch.nn.Module, x: torch.Tensor, kind: str, amp: bool) -> Callable[[], None]:
    """A training step (forward, backward, Adam) or an extraction step (pooled layers, no TF32) on x."""
    if kind == "train":
        y = torch.randint(0, 2, (len(x), 50), device=x.device).float()
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

        def train() -> None:
            with torch.autocast(x.device.type, torch.bfloat16, enabled=amp):
                logits = model(x).float()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

        return train

    def extract() -> None:
        with torch.inference_mode(), float32_convolutions():
            model(x)

    return extract


class Pooled(torch.nn.Module):
    """The extraction step as a module (so that torch.compile sees it whole): the five pooled layers."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.net.blocks_forward(x, pooling="post")[0]


def measure(args: argparse.Namespace, device: torch.device, results: dict, out: Path) -> None:
    fe = FrontEnd()
    spec = ModelSpec(fe, [f"t{i}" for i in range(50)])
    bandwidth = copy_bandwidth(device)
    results["copy_bandwidth_GBps"] = bandwidth / 1e9
    print(f"device copy bandwidth (read + write): {bandwidth / 1e9:.0f} GB/s", flush=True)
    steps = 3 if args.quick else 20
    batches = [8] if args.quick else [32, 128, 512]

    def run(kind: str, *, batch: int, amp: bool, channels_last: bool, benchmark: bool, compiled: str | None = None,
            count: bool = False) -> None:
        torch.backends.cudnn.benchmark = benchmark
        net = build_model(spec, seed=0).to(device)
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        net = net.to(memory_format=fmt)
        model = Pooled(net) if kind == "extract" else net
        if kind == "extract":
            model.eval()
        x = torch.randn(batch, 1, fe.n_mels, fe.n_frames, device=device).mul(20).sub(30)
        x = x.contiguous(memory_format=fmt)
        name = (f"{kind} b{batch} {'bf16' if amp else 'fp32'} {'channels-last' if channels_last else 'contiguous'}"
                f" cudnn.benchmark={'on' if benchmark else 'off'}{f' compiled ({compiled})' if compiled else ''}")
        try:
            t0 = time.perf_counter()
            if compiled:
                model = torch.compile(model, mode=compiled)
            step = make_step(model, x, kind, amp)
            record = {"clips_per_s": rate(step, batch, device, calls=steps), "setup_s": time.perf_counter() - t0}
            if count:
                counter = ByteCounter()
                with counter:
                    step()
                record["bytes_per_clip"] = counter.bytes / batch
                record["ceiling_clips_per_s"] = bandwidth / record["bytes_per_clip"]
        except Exception as error:  # a lever that does not build here (e.g. no compiler) is reported, not fatal
            record = {"error": f"{type(error).__name__}: {str(error).splitlines()[0][:200]}"}
        results["runs"][name] = record
        print(f"  {name:70s} " + ", ".join(f"{k} {v:,.1f}" if isinstance(v, float) else f"{k} {v}"
                                            for k, v in record.items()), flush=True)
        out.write_text(json.dumps(results, indent=1))

    gpu = device.type == "cuda"
    for kind in ("train", "extract") if not args.compiled_only else ():
        amp = gpu and kind == "train"
        run(kind, batch=batches[0], amp=amp, channels_last=gpu and kind == "train", benchmark=False, count=True)
        run(kind, batch=batches[0], amp=amp, channels_last=gpu and kind == "train", benchmark=True)
        run(kind, batch=batches[0], amp=amp, channels_last=not (gpu and kind == "train"), benchmark=True, count=True)
        if kind == "train" and gpu:
            run(kind, batch=batches[0], amp=False, channels_last=False, benchmark=True, count=True)
        for batch in batches[1:]:
            for channels_last in (False, True):
                run(kind, batch=batch, amp=amp, channels_last=channels_last, benchmark=True)
    if not args.no_compile:
        for kind in ("extract", "train"):
            amp = gpu and kind == "train"
            for mode in args.compile_modes:
                for batch in batches[:2]:
                    run(kind, batch=batch, amp=amp, channels_last=gpu and kind == "train", benchmark=True, compiled=mode)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("levers.json"))
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--compiled-only", action="store_true", help="only the torch.compile runs")
    parser.add_argument("--compile-modes", nargs="+", default=["default"], help="torch.compile modes to time")
    parser.add_argument("--quick", action="store_true", help="tiny batches and few steps (a check of the script)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = device_for(args.device)
    name = torch.cuda.get_device_name() if device.type == "cuda" else f"CPU, {args.threads} threads"
    results: dict = {"device": name, "torch": torch.__version__, "runs": {}}
    print(f"{name}, torch {torch.__version__}; 29 s excerpts (96 x 1360); clips/s", flush=True)
    measure(args, device, results, args.out)


if __name__ == "__main__":
    main()
