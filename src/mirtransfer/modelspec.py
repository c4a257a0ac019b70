"""What a convnet is, without torch: its spec (architecture, front end, tags), its pooling plan and the excerpts it needs.

The workflow's DAG checks configs with these; :mod:`mirtransfer.model` builds the network from a spec.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from mirtransfer.errors import UserError
from mirtransfer.frontend import FrontEnd

N_BLOCKS = 5
# The paper's pools for 96 mel bins x 1360 frames, as (frequency, time).
PAPER_POOLS = ((2, 4), (3, 4), (2, 5), (2, 4), (4, 4))


def _axis_plan(length: int, template: tuple[int, ...]) -> tuple[int, ...]:
    """Pool sizes along one axis whose floor-division chain takes ``length`` to exactly 1.

    Among sizes 1..8 per block, the plan closest to the paper's (in log scale) wins,
    so 96 bins and 1360 frames give the paper's plan.
    """
    best: tuple[float, tuple[int, ...]] | None = None
    for plan in itertools.product(range(1, 9), repeat=len(template)):
        n = length
        for p in plan:
            n //= p
        if n != 1:
            continue
        cost = sum(math.log(p / t) ** 2 for p, t in zip(plan, template))
        if best is None or cost < best[0]:
            best = (cost, plan)
    if best is None:
        raise ValueError(f"no pooling plan takes {length} to 1 in {len(template)} blocks of pools up to 8")
    return best[1]


def pool_plan(n_mels: int, n_frames: int) -> list[tuple[int, int]]:
    """(frequency, time) max-pool sizes of the five blocks so the last block ends at 1 x 1."""
    freq = _axis_plan(n_mels, tuple(p[0] for p in PAPER_POOLS))
    time = _axis_plan(n_frames, tuple(p[1] for p in PAPER_POOLS))
    return list(zip(freq, time))


@dataclass
class ModelSpec:
    """Everything needed to rebuild a convnet: architecture, front end and tag names."""

    frontend: FrontEnd
    tags: list[str]
    channels: int = 32
    pools: list[tuple[int, int]] = field(default_factory=list)
    input_norm: str = "batchnorm"  # 'batchnorm' (learned), 'sample' (each clip to mean 0, std 1) or 'none'
    bn_eps: float = 1e-3
    source: dict[str, Any] = field(default_factory=dict)  # where the weights came from
    # The input is plain dB that the network makes relative to a maximum and floors at -db_range
    # (the 2017 kapre did this inside the network); None: the input is used as it is.
    db_range: float | None = None
    # Batch norm with the statistics of the batch it is given, at test time too, and the dB maximum
    # over the batch (Keras 1 BatchNormalization mode 2 and the 2017 kapre); False: stored statistics.
    batch_statistics: bool = False

    def __post_init__(self) -> None:
        if not self.pools:
            self.pools = pool_plan(self.frontend.n_mels, self.frontend.n_frames)
        self.pools = [tuple(p) for p in self.pools]  # type: ignore[misc]
        if len(self.pools) != N_BLOCKS:
            raise ValueError(f"the convnet has {N_BLOCKS} blocks, got {len(self.pools)} pool sizes")
        if self.input_norm not in ("batchnorm", "sample", "none"):
            raise ValueError(f"input_norm must be 'batchnorm', 'sample' or 'none', not {self.input_norm!r}")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["frontend"] = self.frontend.to_dict()
        d["pools"] = [list(p) for p in self.pools]
        d["architecture"] = "choi2017-convnet"
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelSpec":
        d = {k: v for k, v in d.items() if k != "architecture"}
        d["frontend"] = FrontEnd.from_dict(d["frontend"])
        return cls(**d)


def min_frames(pools: list[tuple[int, int]], pooling: str) -> int:
    """Frames a model needs so that every block keeps at least one frame: its time pools before
    the last block for pre-pool features, all of them for post-pool features and for tags."""
    times = [time for _, time in pools]
    return math.prod(times[:-1] if pooling == "pre" else times)


class ExcerptTooShort(UserError, ValueError):
    """The excerpts are too short for a model's pools."""


def check_excerpt(spec: "ModelSpec", pooling: str, what: str) -> None:
    """Refuse excerpts too short for a model's features (pooling: pre/post) or tags (pooling: post)."""
    need = min_frames(spec.pools, pooling)
    if spec.frontend.n_frames < need:
        raise ExcerptTooShort(f"{what} needs excerpts of at least {spec.frontend.seconds_for(need)} s ({need} frames) "
                        f"with pooling {pooling!r}; its front end gives {spec.frontend.n_frames} frames "
                        f"({spec.frontend.duration} s): raise the duration"
                        + (" or use pooling: pre" if pooling == "post" else ""))


def batchnorm_options(weights: str, batch_statistics: bool) -> dict[str, str]:
    """An extractor's ``batchnorm`` options and the normalisation each selects, its default first.

    random weights: 'target' (statistics of each target dataset) or 'identity'; a
    batch-statistics model (the paper's convnet): 'batch' (the authors' batches) or 'target'
    (batch-independent); other trained models use their own statistics: no option (empty).
    """
    if weights == "random":
        return {"target": "dataset", "identity": "model"}
    if batch_statistics:
        return {"batch": "batch", "target": "dataset"}
    return {}
