"""The convnet: pool plans, block shapes, initialisation and saving."""

from __future__ import annotations

import pytest
import torch

from mirtransfer.frontend import FrontEnd
from mirtransfer.model import ConvNet, build_model, compile_on_cuda, float32_convolutions, load_model, save_model
from mirtransfer.train import TrainConfig
from mirtransfer.modelspec import PAPER_POOLS, ModelSpec, pool_plan


def block_shapes(model: ConvNet, x: torch.Tensor) -> list[tuple[int, ...]]:
    shapes = []
    x = model.input_norm(x)
    for block in model.blocks:
        x = block["pool"](torch.nn.functional.elu(block["bn"](block["conv"](x))))
        shapes.append(tuple(x.shape[1:]))
    return shapes


def test_paper_pool_plan():
    assert pool_plan(96, 1360) == list(PAPER_POOLS)


@pytest.mark.parametrize("n_mels, expected", [
    (96, [(32, 48, 340), (32, 16, 85), (32, 8, 17), (32, 4, 4), (32, 1, 1)]),
    (128, [(32, 64, 340), (32, 21, 85), (32, 10, 17), (32, 5, 4), (32, 1, 1)]),
])
def test_block_shapes(n_mels, expected):
    fe = FrontEnd(n_mels=n_mels)
    model = build_model(ModelSpec(fe, ["a", "b", "c"]), seed=0).eval()
    x = torch.randn(2, 1, *fe.shape)
    assert block_shapes(model, x) == expected
    with torch.no_grad():
        assert model(x).shape == (2, 3)
        pooled, _ = model.blocks_forward(x, pooling="post")
    assert [p.shape for p in pooled] == [(2, 32)] * 5


@pytest.mark.parametrize("length", [8, 31, 94, 188, 235, 500, 1000, 1360, 2000, 2583])
def test_pool_plan_ends_at_one_for_other_lengths(length):
    for axis in (0, 1):
        plan = pool_plan(length, 1360) if axis == 0 else pool_plan(96, length)
        n = length
        for p in plan:
            n //= p[axis]
        assert n == 1, (length, plan)


def test_initialisation_is_seeded_he_normal():
    spec = ModelSpec(FrontEnd(duration=2.0), ["a"], channels=64)
    a, b, c = build_model(spec, 1), build_model(spec, 1), build_model(spec, 2)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert not torch.equal(a.blocks[2]["conv"].weight, c.blocks[2]["conv"].weight)
    w = a.blocks[2]["conv"].weight
    assert w.std().item() == pytest.approx((2 / (64 * 9)) ** 0.5, rel=0.05)
    assert torch.all(a.blocks[2]["conv"].bias == 0)


def test_save_and_load(tmp_path):
    spec = ModelSpec(FrontEnd(duration=2.0), ["rock", "jazz"], source={"dataset": "x"})
    model = build_model(spec, 3).eval()
    save_model(model, tmp_path / "m.pt", tmp_path / "m.json")
    back = load_model(tmp_path / "m.pt", tmp_path / "m.json")
    assert back.spec.tags == ["rock", "jazz"] and back.spec.frontend == spec.frontend and back.spec.pools == spec.pools
    x = torch.randn(3, 1, *spec.frontend.shape)
    with torch.no_grad():
        assert torch.equal(model(x), back(x))
    assert not back.training


def test_float32_convolutions_turns_tf32_off_and_restores_it():
    """TF32 moved the authors' convnet's features by 2.4e-3 on an H200 (bench/extract_precision.py)."""
    saved = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    try:
        torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = True
        with float32_convolutions():
            assert not torch.backends.cudnn.allow_tf32 and not torch.backends.cuda.matmul.allow_tf32
        assert torch.backends.cudnn.allow_tf32 and torch.backends.cuda.matmul.allow_tf32
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


def test_compile_is_for_cuda_only_and_changes_no_weight_or_digest():
    """torch.compile runs on CUDA only (measured there: bench/gpu_levers.py); on the CPU the
    model stays eager, and compiling is not part of a training run's identity."""
    model = build_model(ModelSpec(FrontEnd(duration=2.0), ["a", "b"]), 0)
    keys = list(model.state_dict())
    forward = compile_on_cuda(model, torch.device("cpu"))
    assert forward == model.blocks_forward and model._compiled_call_impl is None
    assert list(model.state_dict()) == keys
    assert compile_on_cuda(model, torch.device("cpu"), enabled=False) == model.blocks_forward
    assert TrainConfig(compile=False).digest() == TrainConfig(compile=True).digest()
    assert TrainConfig(amp=False).digest() != TrainConfig().digest()
