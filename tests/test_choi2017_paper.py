"""The paper's Keras-1/Theano convnet converted to torch, checked against an independent numpy pass.

The reference (tests/choi2017_paper_reference.py) was written from the facts of the
shared README alone, without the port: float64, channels first, Theano's flipped
convolutions, batch norm with the statistics of the batch and the dB maximum over the
batch (or per clip). Both readings must agree within 1e-4 (relative) on every layer's
features and every tag probability.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from choi2017_paper_reference import reference_forward
from conftest import shared_file
from mirtransfer.choi2017 import MIN_PAPER_SECONDS, MSD_TOP50, PAPER_FRONTEND, frontend
from mirtransfer.convert import NotChoi2017Model, convert_file, convert_paper
from mirtransfer.features import extract
from mirtransfer.featuresets import read_features
from mirtransfer.frontend import ExcerptPolicy, FrontEnd
from mirtransfer.logmel import LogMel
from mirtransfer.melspec import MelExtractor
from mirtransfer.model import ConvNet, group_statistics, load_model, save_model
from mirtransfer.modelspec import ModelSpec
from mirtransfer.tagging import tag_files

RTOL, ATOL = 1e-4, 1e-6


@pytest.fixture(scope="module")
def model(paper_hdf5):
    return convert_paper(paper_hdf5)


@pytest.fixture(scope="module")
def waves() -> np.ndarray:
    """Five 29 s clips at 12 kHz: note sequences with noise, at different levels."""
    rng = np.random.default_rng(7)
    n = PAPER_FRONTEND.n_samples
    t = np.arange(n) / PAPER_FRONTEND.sample_rate
    clips = []
    for k, level in enumerate([0.3, 0.05, 0.6, 0.01, 0.2]):
        notes = 110 * 2 ** (rng.integers(0, 36, 30) / 12)
        f0 = np.repeat(notes, math.ceil(n / 30))[:n]
        tone = sum(np.sin(2 * np.pi * h * np.cumsum(f0) / PAPER_FRONTEND.sample_rate) / h for h in range(1, 4 + k))
        clips.append(level * (tone / 2 + 0.1 * rng.standard_normal(n) * (1 + np.sin(2 * np.pi * 0.3 * t))))
    return np.stack(clips).astype(np.float32)


def logmel(waves: np.ndarray) -> torch.Tensor:
    with torch.inference_mode():
        return LogMel(PAPER_FRONTEND)(torch.from_numpy(waves)).unsqueeze(1)


def assert_matches(probs, features, ref_probs, ref_features) -> None:
    np.testing.assert_allclose(probs, ref_probs, rtol=RTOL, atol=ATOL)
    for layer, (ours, theirs) in enumerate(zip(features, ref_features, strict=True), start=1):
        scale = np.abs(theirs).max()
        np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=RTOL * scale, err_msg=f"layer {layer}")


@pytest.mark.parametrize("clips", [[0, 1, 2], [1, 3, 4, 0]])
def test_batch_statistics_match_reference(model, paper_hdf5, waves, clips):
    """The authors' mode: one batch, its own statistics and dB maximum; two batch compositions."""
    x = logmel(waves[clips])
    with torch.inference_mode():
        features, _ = model.blocks_forward(x, pooling="post")
        probs = torch.sigmoid(model(x)).numpy()
        # The same numbers in bounded memory: statistics gathered over chunks of two clips.
        stats = group_statistics(model, lambda: iter(x.split(2)), db_scope="group", keep=True)
        chunked = [torch.cat(parts) for parts in zip(*(model.blocks_forward(c, pooling="post", stats=stats)[0] for c in x.split(2)))]
    ref_probs, ref_features = reference_forward(paper_hdf5, waves[clips], "batch")
    assert_matches(probs, [f.numpy() for f in features], ref_probs, ref_features)
    assert_matches(probs, [f.numpy() for f in chunked], ref_probs, ref_features)


def test_batch_composition_changes_features(model, waves):
    """In the authors' mode a clip's features depend on the other clips of its batch."""
    with torch.inference_mode():
        alone = model.blocks_forward(logmel(waves[[1, 2]]), pooling="post")[0][0][0]
        other = model.blocks_forward(logmel(waves[[1, 3]]), pooling="post")[0][0][0]
    assert (alone - other).abs().max() > 1e-2


def test_batch_independent_mode_matches_reference(model, paper_hdf5, waves):
    """Statistics of the whole set of clips and each clip's own dB maximum, in chunks of any size."""
    x = logmel(waves)
    ref_probs, ref_features = reference_forward(paper_hdf5, waves, "clip")
    for size, keep in ((1, False), (3, True)):
        with torch.inference_mode():
            stats = group_statistics(model, lambda: iter(x.split(size)), db_scope="clip", keep=keep)
            features = [torch.cat(p) for p in zip(*(model.blocks_forward(c, pooling="post", stats=stats)[0] for c in x.split(size)))]
            probs = torch.cat([torch.sigmoid(model(c, stats=stats)) for c in x.split(size)]).numpy()
        assert stats.db_max is None
        assert_matches(probs, [f.numpy() for f in features], ref_probs, ref_features)


def test_batch_statistics_by_hand():
    """Batch norm over a batch of two one-pixel-wide clips, computed by hand."""
    frontend = FrontEnd(duration=0.1)
    spec = ModelSpec(frontend, ["t"], channels=1, pools=[(1, 1)] * 5, input_norm="none", batch_statistics=True)
    net = ConvNet(spec).eval()
    with torch.no_grad():
        for block in net.blocks:
            block["conv"].weight.zero_()
            block["conv"].weight[0, 0, 1, 1] = 1.0  # the centre tap: the identity
            block["conv"].bias.zero_()
    x = torch.tensor([[[[0.0, 2.0]]], [[[4.0, 6.0]]]])  # (clips, 1, 1 mel, 2 frames)
    # Mean 3, biased variance (9 + 1 + 1 + 9) / 4 = 5, epsilon 1e-3, then ELU.
    z = [(v - 3.0) / math.sqrt(5.0 + 1e-3) for v in (0.0, 2.0, 4.0, 6.0)]
    elu = [v if v > 0 else math.expm1(v) for v in z]
    with torch.no_grad():
        first = net.blocks_forward(x, pooling="post")[0][0][:, 0].numpy()
    np.testing.assert_allclose(first, [(elu[0] + elu[1]) / 2, (elu[2] + elu[3]) / 2], rtol=1e-6)
    # The stored (running) statistics play no part, and chunks of one clip give the same.
    with torch.no_grad():
        stats = group_statistics(net, lambda: iter(x.split(1)))
        chunked = torch.cat([net.blocks_forward(c, pooling="post", stats=stats)[0][0] for c in x.split(1)])[:, 0].numpy()
    np.testing.assert_allclose(stats.bn[0][0].numpy(), [3.0])
    np.testing.assert_allclose(stats.bn[0][1].numpy(), [5.0])
    np.testing.assert_allclose(chunked, first, rtol=1e-6)


def test_decibel_reference_is_the_batch_maximum():
    """With db_range, the input is made relative to the batch's maximum (authors) or each clip's."""
    spec = ModelSpec(FrontEnd(duration=0.1), ["t"], channels=1, pools=[(1, 1)] * 5, input_norm="none",
                     db_range=80.0, batch_statistics=True)
    net = ConvNet(spec)
    x = torch.tensor([[[[-100.0, 10.0]]], [[[20.0, -5.0]]]])
    assert net.input_db(x).flatten().tolist() == [-80.0, -10.0, 0.0, -25.0]
    per_clip = group_statistics(net, lambda: iter([x]), db_scope="clip")
    assert net.input_db(x, per_clip).flatten().tolist() == [-80.0, 0.0, 0.0, -25.0]


def test_convert_file_and_refusals(paper_hdf5, choi2017_hdf5, tmp_path):
    weights, spec = tmp_path / "model.pt", tmp_path / "model.json"
    with pytest.raises(NotChoi2017Model, match="sha256 .* differs .* weights_transfer/weights_theano.hdf5"):
        convert_file(paper_hdf5, weights, spec, kind="choi2017_paper", expected_sha256="0" * 64)
    assert not weights.exists()
    convert_file(paper_hdf5, weights, spec, kind="choi2017_paper", expected_sha256=None, duration=28.0)
    loaded = load_model(weights, spec)
    assert loaded.spec.batch_statistics and loaded.spec.db_range == 80.0 and loaded.spec.tags == MSD_TOP50
    assert loaded.spec.frontend == frontend("choi2017_paper", 28.0) and loaded.spec.source["type"] == "choi2017_paper"
    with pytest.raises(ValueError, match=f"at least {MIN_PAPER_SECONDS} s"):
        frontend("choi2017_paper", 27.0)
    truncated = shared_file(paper_hdf5.with_name("weights_layer2_theano.hdf5"))
    for wrong, message in [(choi2017_hdf5, "layer groups .* are not those of the paper's convnet"),
                           (truncated, "holds blocks 1-3 only .* use weights_theano.hdf5")]:
        with pytest.raises(NotChoi2017Model, match=message) as err:
            convert_paper(wrong)
        assert "\n" not in str(err.value)
    text = tmp_path / "notes.hdf5"
    text.write_text("hello")
    with pytest.raises(NotChoi2017Model, match="not a readable HDF5 file"):
        convert_paper(text)


def test_extraction_through_parquet_in_the_authors_batches(model, paper_hdf5, waves, tmp_path):
    """Spectrograms written to Parquet (float32), then extract() in both modes, against the reference.

    batchnorm: batch takes batches of batch_size clips in the authors' order; batchnorm: target
    normalises with the whole table's statistics and each clip's own dB maximum.
    """
    ids = [f"clip{k}" for k in range(len(waves))]
    for clip, wave in zip(ids, waves):
        sf.write(tmp_path / f"{clip}.wav", wave, PAPER_FRONTEND.sample_rate, subtype="FLOAT")
    manifest = pd.DataFrame({"clip_id": ids, "path": [f"{c}.wav" for c in ids], "start": None, "end": None})
    shard = tmp_path / "part-000.parquet"
    MelExtractor(PAPER_FRONTEND, ExcerptPolicy(), dtype="float32", batch_size=2).run(manifest, tmp_path, shard)
    save_model(model, tmp_path / "model.pt", tmp_path / "model.json")
    files = (tmp_path / "model.pt", tmp_path / "model.json")
    authors = [4, 0, 3, 1, 2]  # the authors' row order: batches [4, 0, 3] and [1, 2]
    outs = [tmp_path / "batch" / f"layer{i}.parquet" for i in range(1, 6)]
    meta = extract([shard], outs, extractor={"model": "p", "weights": "trained", "batchnorm": "batch", "batch_size": 3},
                   model_files=files, pooling="post", batch_size=2, authors_ids=[ids[k] for k in authors])
    assert meta["normalisation"]["batch_dependent"] and meta["normalisation"]["batch_order"] == "the authors' table"
    tables = [read_features(p)[0] for p in outs]
    assert tables[0]["clip_id"].tolist() == ids  # written in table order
    for batch in (authors[:3], authors[3:]):
        _, ref = reference_forward(paper_hdf5, waves[batch], "batch")
        ours = [t.drop(columns="clip_id").to_numpy()[batch] for t in tables]
        assert_matches(np.zeros(1), ours, np.zeros(1), ref)
    outs = [tmp_path / "target" / f"layer{i}.parquet" for i in range(1, 6)]
    meta = extract([shard], outs, extractor={"model": "p", "weights": "trained", "batchnorm": "target", "batch_size": 256},
                   model_files=files, pooling="post", batch_size=2)
    assert not meta["normalisation"]["batch_dependent"]
    _, ref = reference_forward(paper_hdf5, waves, "clip")
    assert_matches(np.zeros(1), [read_features(p)[0].drop(columns="clip_id").to_numpy() for p in outs], np.zeros(1), ref)


def test_tagging_normalises_over_the_files_tagged_together(model, paper_hdf5, waves, tmp_path):
    for name, k in (("a.wav", 0), ("b.wav", 2)):
        sf.write(tmp_path / name, waves[k], PAPER_FRONTEND.sample_rate, subtype="FLOAT")
    table = tag_files(model, [tmp_path], top_k=50, max_excerpts=1)
    ref_probs, _ = reference_forward(paper_hdf5, waves[[0, 2]], "clip")
    for row, name in enumerate(("a.wav", "b.wav")):
        ours = table[table["path"].str.endswith(name)].set_index("tag")["probability"]
        np.testing.assert_allclose(ours.reindex(MSD_TOP50).to_numpy(), ref_probs[row], rtol=RTOL, atol=ATOL)
