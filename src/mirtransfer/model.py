"""The paper's convnet in torch: five 3x3 conv / batch-norm / ELU / max-pool blocks and a sigmoid tag head.

It is built from a :class:`mirtransfer.modelspec.ModelSpec`; its hyper-parameters, front end and tag names travel in a JSON beside the weights
(a ``state_dict``), so that features are never computed from spectrograms made
with other settings.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from mirtransfer.files import atomic_path
from mirtransfer.modelspec import N_BLOCKS, ModelSpec


@dataclass
class GroupStatistics:
    """Normalisation statistics of a group of clips: one of the authors' batches, or a whole dataset.

    db_max: the group's maximum decibel value (None: each clip's own maximum);
    input: the mean and biased variance of the input, for a learned input batch norm;
    bn: per block, the mean and biased variance of its convolution's output over the group
    (fewer than N_BLOCKS while they are being estimated).
    """

    db_max: float | None
    input: tuple[torch.Tensor, torch.Tensor] | None = None
    bn: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)


class SampleNorm(nn.Module):
    """Each clip's spectrogram to mean 0 and (population) standard deviation 1, as kapre's Normalization2D."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        std = x.std(dim=(1, 2, 3), keepdim=True, unbiased=False)
        return (x - mean) / (std + 1e-10)


class ConvNet(nn.Module):
    """Log-mel (batch, 1, n_mels, n_frames) to tag logits, with access to every block's output."""

    def __init__(self, spec: ModelSpec) -> None:
        super().__init__()
        self.spec = spec
        norms = {"batchnorm": lambda: nn.BatchNorm2d(1, eps=spec.bn_eps), "sample": SampleNorm, "none": nn.Identity}
        self.input_norm = norms[spec.input_norm]()
        blocks = []
        in_ch = 1
        for pool in spec.pools:
            blocks.append(
                nn.ModuleDict(
                    {
                        "conv": nn.Conv2d(in_ch, spec.channels, kernel_size=3, padding=1),
                        "bn": nn.BatchNorm2d(spec.channels, eps=spec.bn_eps,
                                             track_running_stats=not spec.batch_statistics),
                        "pool": nn.MaxPool2d(pool),
                    }
                )
            )
            in_ch = spec.channels
        self.blocks = nn.ModuleList(blocks)
        self.head = nn.Linear(spec.channels, len(spec.tags))

    def reset_parameters(self, generator: torch.Generator) -> None:
        """The paper's initialisation: He-normal convolutions, zero biases, identity batch norm."""
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                fan_in = module.weight[0].numel()
                with torch.no_grad():
                    module.weight.normal_(0.0, math.sqrt(2.0 / fan_in), generator=generator)
                    module.bias.zero_()
            elif isinstance(module, nn.BatchNorm2d):
                module.reset_parameters()
                if module.track_running_stats:
                    module.reset_running_stats()

    def _input(self, x: torch.Tensor, stats: GroupStatistics | None) -> torch.Tensor:
        """The first block's input: decibels made relative (db_range) and the input normalisation."""
        return _normalise(self.input_norm, self.input_db(x, stats), stats.input if stats is not None else None)

    def input_db(self, x: torch.Tensor, stats: GroupStatistics | None = None) -> torch.Tensor:
        """The input spectrogram, relative to its maximum and floored when the model has db_range."""
        if self.spec.db_range is not None:
            if stats is not None and stats.db_max is not None:
                reference: torch.Tensor | float = stats.db_max
            elif stats is None and self.spec.batch_statistics:
                reference = x.amax()
            else:
                reference = x.amax(dim=(1, 2, 3), keepdim=True)
            x = torch.clamp(x - reference, min=-self.spec.db_range)
        return x

    def _block(self, i: int, x: torch.Tensor, stats: GroupStatistics | None) -> torch.Tensor:
        """Block i's convolution, batch norm (the group's statistics when given) and ELU, before its pool."""
        block = self.blocks[i]
        moments = stats.bn[i] if stats is not None and i < len(stats.bn) else None
        return nn.functional.elu(_normalise(block["bn"], block["conv"](x), moments))

    def conv_output(self, x: torch.Tensor, k: int, stats: GroupStatistics | None = None) -> torch.Tensor:
        """Block k's convolution output, the blocks before it normalised with ``stats``."""
        x = self._input(x, stats)
        for i in range(k):
            x = self.blocks[i]["pool"](self._block(i, x, stats))
        return self.blocks[k]["conv"](x)

    def blocks_forward(
        self, x: torch.Tensor, *, pooling: str, stats: GroupStatistics | None = None
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """Each block's global-average-pooled output (batch, channels), and the last block's map.

        pooling: 'post' pools each block's output after max-pooling (the paper), 'pre' the ELU output
        before it; 'pre' skips the last max-pool (the map returned is then the last block's before
        it), so shorter excerpts give all five features.
        stats: normalise with a group's statistics (group_statistics) instead of the model's own.
        """
        if pooling not in ("pre", "post"):
            raise ValueError(f"pooling must be 'pre' or 'post', not {pooling!r}")
        x = self._input(x, stats)
        pooled = []
        for i, block in enumerate(self.blocks):
            x = self._block(i, x, stats)
            if pooling == "pre":
                pooled.append(x.mean(dim=(2, 3)))
                if i == len(self.blocks) - 1:
                    break
            x = block["pool"](x)
            if pooling == "post":
                pooled.append(x.mean(dim=(2, 3)))
        return pooled, x

    def forward(self, x: torch.Tensor, stats: GroupStatistics | None = None) -> torch.Tensor:
        """Tag logits (apply a sigmoid for probabilities)."""
        _, last = self.blocks_forward(x, pooling="post", stats=stats)  # the tag head reads the last pool
        return self.head(torch.amax(last, dim=(2, 3)))


def _normalise(norm: nn.Module, x: torch.Tensor, moments: tuple[torch.Tensor, torch.Tensor] | None) -> torch.Tensor:
    """A batch norm with given (mean, variance), or the module as it is."""
    if moments is None or not isinstance(norm, nn.BatchNorm2d):
        return norm(x)
    return nn.functional.batch_norm(x, *moments, norm.weight, norm.bias, training=False, eps=norm.eps)


def _moments(outputs: Iterable[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and biased variance over (batch, height, width) of all outputs, in float64."""
    total = squares = None
    count = 0
    for out in outputs:
        out = out.double()
        s, q = out.sum(dim=(0, 2, 3)), out.square().sum(dim=(0, 2, 3))
        total, squares = (s, q) if total is None else (total + s, squares + q)
        count += out.numel() // out.shape[1]
    if total is None:
        raise ValueError("group_statistics: the group holds no clip")
    mean = total / count
    return mean.float(), torch.clamp(squares / count - mean.square(), min=0.0).float()


@torch.no_grad()
def group_statistics(
    model: ConvNet, chunks: Callable[[], Iterable[torch.Tensor]], *, db_scope: str = "group", keep: bool = False
) -> GroupStatistics:
    """The normalisation statistics of the group of clips that ``chunks()`` yields.

    The same numbers as one batch holding the whole group (Keras 1 batch norm mode 2,
    the 2017 kapre's dB maximum), in bounded memory: ``chunks`` is called once for the
    dB maximum and once per block, and each block's mean and biased variance are taken
    with the blocks before it normalised by the group's own statistics.
    db_scope: 'group' takes the dB maximum over the whole group (the authors), 'clip'
    each clip's own (so that a clip's input does not depend on the others).
    keep: hold each block's pooled output for the group between blocks instead of
    recomputing it from the input (about half the work; memory: the first block's
    pooled output for the whole group, about 2 MB per 29 s clip).
    """
    if db_scope not in ("group", "clip"):
        raise ValueError(f"db_scope must be 'group' or 'clip', not {db_scope!r}")
    db_max = None
    if model.spec.db_range is not None and db_scope == "group":
        db_max = max(float(x.amax()) for x in chunks())
    stats = GroupStatistics(db_max)
    if isinstance(model.input_norm, nn.BatchNorm2d):  # a learned input normalisation
        stats.input = _moments(model.input_db(x, stats) for x in chunks())
    if keep:
        level = [model._input(x, stats) for x in chunks()]
        for k in range(N_BLOCKS):
            stats.bn.append(_moments(model.blocks[k]["conv"](h) for h in level))
            if k + 1 < N_BLOCKS:
                level = [model.blocks[k]["pool"](model._block(k, h, stats)) for h in level]
        return stats
    for k in range(N_BLOCKS):
        stats.bn.append(_moments(model.conv_output(x, k, stats) for x in chunks()))
    return stats


@contextlib.contextmanager
def float32_convolutions() -> Iterator[None]:
    """Run CUDA convolutions and matrix products in full float32 (no TF32) inside the block.

    cuDNN may use TF32 (a 10-bit mantissa) for float32 convolutions on recent GPUs, which
    moves features by about 1e-3; extraction and tagging turn it off so that features do
    not depend on the GPU they were computed on (bench/extract_precision.py measures it).
    """
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def compile_on_cuda(
    model: ConvNet, device: torch.device, enabled: bool = True
) -> Callable[..., tuple[list[torch.Tensor], torch.Tensor]]:
    """The model's ``blocks_forward`` compiled with torch.compile on CUDA, the model itself compiled in place.

    Inductor fuses batch norm, ELU and pooling, which eager PyTorch runs as separate passes over
    each block's output: on an H200 the bf16 training step ran 2.5-2.8x and the float32 extraction
    step 1.5-1.7x faster (bench/gpu_levers.py). The weights and state-dict keys are unchanged. On
    the CPU, or when not enabled, nothing is compiled (a compile costs tens of seconds and a C++
    compiler there) and ``blocks_forward`` is returned as it is.
    """
    if not (enabled and device.type == "cuda"):
        return model.blocks_forward
    model.compile()
    return torch.compile(model.blocks_forward)


def device_for(prefer: str = "auto") -> torch.device:
    """CUDA when present (or asked for), CPU otherwise."""
    if prefer == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(prefer)


def build_model(spec: ModelSpec, seed: int) -> ConvNet:
    """A convnet with the paper's initialisation, reproducible from ``seed``."""
    model = ConvNet(spec)
    model.reset_parameters(torch.Generator().manual_seed(seed))
    return model


def save_model(model: ConvNet, weights_path: str | Path, spec_path: str | Path) -> None:
    """Write the weights (state_dict) and the spec JSON, each atomically."""
    with atomic_path(weights_path) as tmp:
        torch.save(model.state_dict(), tmp)
    with atomic_path(spec_path) as tmp:
        tmp.write_text(json.dumps(model.spec.to_dict(), indent=2) + "\n")


def load_model(weights_path: str | Path, spec_path: str | Path, device: str | torch.device = "cpu") -> ConvNet:
    """Rebuild a saved convnet in inference mode (weights loaded with weights_only=True)."""
    spec = ModelSpec.from_dict(json.loads(Path(spec_path).read_text()))
    model = ConvNet(spec)
    model.load_state_dict(torch.load(weights_path, map_location=device, weights_only=True))
    return model.to(device).eval()
