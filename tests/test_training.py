"""Training on a tiny demo tagging set and feature extraction from it."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from mirtransfer.demo import make_corpus
from mirtransfer.features import extract, layer_features
from mirtransfer.featuresets import read_features
from mirtransfer.frontend import FrontEnd, FrontEndMismatch
from mirtransfer.datasets import build_manifest
from mirtransfer.manifest import ManifestError, read_manifest, write_manifest
from mirtransfer.melspec import run_shard
from mirtransfer.meltable import MelTable
from mirtransfer.model import build_model, load_model
from mirtransfer.modelspec import ModelSpec
from mirtransfer.train import (SplitStream, TrainConfig, TrainOutputs, multi_hot, run_fingerprint, tag_vocabulary, train,
                               train_step)

FE = {"sample_rate": 12000, "n_fft": 512, "hop_length": 256, "n_mels": 48, "f_min": 0.0, "f_max": 6000.0, "duration": 2.0}


def outputs(folder):
    """A training run's files in one folder, named as the workflow's rule train names them."""
    return TrainOutputs(*(folder / name for name in ("model.pt", "model.json", "metrics.json", "history.csv", "training.png")))


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A demo tagging set (100 clips of about 2 s) as manifest and two mel shards."""
    tmp = tmp_path_factory.mktemp("source")
    make_corpus(tmp / "demo", seed=3, n_source=100, n_target=8, clip_seconds=2.0)
    spec = {"type": "csv", "root": str(tmp / "demo" / "tags"), "table": "tags.csv", "columns": {"tags": "tags", "split": "split"}}
    write_manifest(build_manifest("tags", spec), tmp / "manifest.parquet", {"dataset": "tags", "root": spec["root"]})
    shards = []
    for shard in range(2):
        shards.append(tmp / f"part-{shard:03d}.parquet")
        run_shard(tmp / "manifest.parquet", shard, 2, frontend=FE, excerpts={"policy": "first", "pad": "zero"},
                  melspec={"batch_size": 8, "dtype": "float16"}, strict=True, mel_out=shards[-1],
                  rejected_out=tmp / f"rejected-{shard}.csv", threads=1)
    return tmp, shards


CONFIG = TrainConfig(n_tags=12, epochs=6, patience=10, batch_size=8, learning_rate=5e-3, seed=0, shuffle_window=2)


def test_vocabulary_and_targets():
    tags = pd.Series([["b", "a"], ["a"], ["c", "a"], ["b"]])
    assert tag_vocabulary(tags, 2) == ["a", "b"]
    np.testing.assert_array_equal(multi_hot(tags, ["a", "b"]), [[1, 1], [1, 0], [1, 0], [0, 1]])


@pytest.mark.parametrize("change, message", [
    (lambda m: m.assign(split=None), r"manifest.parquet: the source dataset has no 'split' column"),
    (lambda m: m.assign(split=m["split"].replace("valid", "dev")),
     r"no usable clip in the source dataset's 'valid' split \(its splits: \['dev', 'test', 'train'\]\)"),
    (lambda m: m.assign(tags=[[] for _ in range(len(m))]), r"^the source dataset has no tags in its train split"),
    (lambda m: m.assign(split=np.where(m["split"].eq("valid").cumsum().gt(1) & m["split"].eq("valid"), "train", m["split"])),
     r"no tag is both present and absent among the 1 valid clips"),
])
def test_a_source_without_splits_or_tags_is_a_user_error(source, tmp_path, change, message):
    tmp, shards = source
    manifest, meta = read_manifest(tmp / "manifest.parquet")
    write_manifest(change(manifest), tmp_path / "manifest.parquet", meta)
    with pytest.raises(ManifestError, match=message):
        train(tmp_path / "manifest.parquet", shards, CONFIG, outputs(tmp_path / "out"), checkpoint_path=tmp_path / "ckpt.pt")


def test_stream_covers_the_split_once_in_any_order(source):
    _, shards = source
    table = MelTable(shards)
    ids = table.index()["clip_id"].tolist()
    targets = {c: np.array([i], np.float32) for i, c in enumerate(ids) if i % 3}
    stream = SplitStream(table, targets, batch_size=5, window=2)
    ordered = [c for _, _, batch in stream.epoch() for c in batch]
    assert ordered == [c for c in ids if c in targets]
    shuffled = [c for _, _, batch in stream.epoch(np.random.default_rng(1)) for c in batch]
    assert sorted(shuffled) == sorted(ordered) and shuffled != ordered
    again = [c for _, _, batch in stream.epoch(np.random.default_rng(1)) for c in batch]
    assert again == shuffled
    for mel, y, batch in stream.epoch(np.random.default_rng(2)):
        assert [targets[c][0] for c in batch] == list(y[:, 0])


def test_stream_batches_follow_their_definition(source):
    """Row groups shuffled, then the rows within each window of row groups, batches running on
    across windows: the same batches, values and targets as that definition read plainly."""
    _, shards = source
    table = MelTable(shards)
    ids = table.index()["clip_id"].tolist()
    targets = {c: np.array([i, -i], np.float32) for i, c in enumerate(ids) if i % 4}
    for window, size in [(2, 5), (1, 3), (3, 64)]:
        rng = np.random.default_rng(7)
        groups = [g for g, clips in table.row_group_ids().items() if any(c in targets for c in clips)]
        groups = [groups[i] for i in rng.permutation(len(groups))]
        rows = []
        for start in range(0, len(groups), window):
            kept = [(c, m) for g in groups[start:start + window]
                    for c, m in zip(table.read_row_group(*g).clip_ids, table.read_row_group(*g).mel) if c in targets]
            rows += [kept[i] for i in rng.permutation(len(kept))]
        expected = [rows[b:b + size] for b in range(0, len(rows), size)]
        got = list(SplitStream(table, targets, batch_size=size, window=window).epoch(np.random.default_rng(7)))
        assert len(got) == len(expected)
        for (mel, y, batch), want in zip(got, expected):
            assert batch == [c for c, _ in want]
            np.testing.assert_array_equal(mel, np.stack([m for _, m in want]))
            np.testing.assert_array_equal(y, np.stack([targets[c] for c in batch]))


def test_training_learns_and_resumes_identically(source, tmp_path):
    tmp, shards = source
    torch.set_num_threads(1)
    metrics = train(tmp / "manifest.parquet", shards, CONFIG, outputs(tmp_path / "full"), checkpoint_path=tmp_path / "full" / "ckpt.pt")
    assert metrics["valid"]["roc_auc"] > 0.7, metrics["valid"]
    assert metrics["test"]["roc_auc"] > 0.65, metrics["test"]
    assert len(metrics["test"]["per_tag"]) >= 8
    for name in ("model.pt", "model.json", "metrics.json", "history.csv", "training.png"):
        assert (tmp_path / "full" / name).exists()

    def interrupt(epoch, record):
        if epoch == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(tmp / "manifest.parquet", shards, CONFIG, outputs(tmp_path / "cut"), checkpoint_path=tmp_path / "cut" / "ckpt.pt", on_epoch_end=interrupt)
    assert not (tmp_path / "cut" / "model.pt").exists()
    assert (tmp_path / "cut" / "ckpt.pt").exists()
    resumed = train(tmp / "manifest.parquet", shards, CONFIG, outputs(tmp_path / "cut"), checkpoint_path=tmp_path / "cut" / "ckpt.pt")
    assert not (tmp_path / "cut" / "ckpt.pt").exists() and not (tmp_path / "full" / "ckpt.pt").exists()
    a = torch.load(tmp_path / "full" / "model.pt", weights_only=True)
    b = torch.load(tmp_path / "cut" / "model.pt", weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert resumed["test"] == metrics["test"]
    pd.testing.assert_frame_equal(
        pd.read_csv(tmp_path / "full" / "history.csv").drop(columns="seconds"),
        pd.read_csv(tmp_path / "cut" / "history.csv").drop(columns="seconds"),
    )


def test_run_fingerprint_follows_what_changes_the_weights(source, tmp_path):
    """A checkpoint resumes only the same run: settings, tags and the manifest's bytes change the
    fingerprint (the front end: the test below); the epoch budget and compiling do not."""
    tmp, shards = source
    table, manifest = MelTable(shards), tmp / "manifest.parquet"
    base = run_fingerprint(CONFIG, ["a", "b"], table, manifest)
    assert run_fingerprint(replace(CONFIG, epochs=99, patience=1, compile=False), ["a", "b"], table, manifest) == base
    assert run_fingerprint(replace(CONFIG, learning_rate=1e-3), ["a", "b"], table, manifest) != base
    assert run_fingerprint(replace(CONFIG, seed=1), ["a", "b"], table, manifest) != base
    assert run_fingerprint(CONFIG, ["a", "c"], table, manifest) != base
    rows, meta = read_manifest(manifest)
    write_manifest(rows.assign(split=rows["split"].replace({"test": "valid"})), tmp_path / "manifest.parquet", meta)
    assert run_fingerprint(CONFIG, ["a", "b"], table, tmp_path / "manifest.parquet") != base


def test_checkpoint_of_another_run_is_set_aside(source, tmp_path, caplog):
    """A checkpoint made with another front end (or data) is not resumed: training starts afresh."""
    tmp, shards = source
    torch.set_num_threads(1)
    config = TrainConfig(n_tags=12, epochs=2, batch_size=8)

    def interrupt(epoch, record):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(tmp / "manifest.parquet", shards, config, outputs(tmp_path / "a"), checkpoint_path=tmp_path / "ckpt.pt",
              on_epoch_end=interrupt)
    other = tmp_path / "other.parquet"
    run_shard(tmp / "manifest.parquet", 0, 1, frontend={**FE, "duration": 1.5}, excerpts={"policy": "first", "pad": "zero"},
              melspec={"batch_size": 8, "dtype": "float16"}, strict=True, mel_out=other,
              rejected_out=tmp_path / "rejected.csv", threads=1)
    with caplog.at_level("WARNING", logger="mirtransfer"):
        metrics = train(tmp / "manifest.parquet", [other], config, outputs(tmp_path / "b"), checkpoint_path=tmp_path / "ckpt.pt")
    assert metrics["epochs_run"] == 2 and "resumed" not in caplog.text and "aside" in caplog.text
    assert (tmp_path / "ckpt.pt.mismatch").exists() and not (tmp_path / "ckpt.pt").exists()


def test_features_are_aligned_and_batch_independent(source, tmp_path):
    _, shards = source
    table = MelTable(shards)
    model = build_model(ModelSpec(table.frontend, ["x"]), seed=5)
    ids, small = layer_features(model, table, pooling="post", batch_size=3)
    ids_big, big = layer_features(model, table, pooling="post", batch_size=64)
    assert ids == ids_big == table.index()["clip_id"].tolist()
    for a, b in zip(small, big, strict=True):
        assert a.shape == (len(ids), 32)
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_random_extractor_is_reproducible(source, tmp_path):
    _, shards = source
    extractor = {"model": "m", "weights": "random", "seed": 4, "batchnorm": "target", "batch_size": 256}
    model_config = {"channels": 32, "input_norm": "batchnorm"}
    outs = {}
    for run in ("a", "b"):
        outs[run] = [tmp_path / run / f"layer{i}.parquet" for i in range(1, 6)]
        meta = extract(shards, outs[run], extractor=extractor, model_config=model_config, pooling="post", batch_size=16)
    assert meta["model"]["batchnorm_statistics"] == "estimated on this dataset"
    assert meta["normalisation"]["mode"] == "dataset" and not meta["normalisation"]["batch_dependent"]
    for a, b in zip(outs["a"], outs["b"]):
        pd.testing.assert_frame_equal(read_features(a)[0], read_features(b)[0])
    # The dataset's statistics do not depend on how the table is cut into batches.
    small = [tmp_path / "s" / f"layer{i}.parquet" for i in range(1, 6)]
    extract(shards, small, extractor=extractor, model_config=model_config, pooling="post", batch_size=3)
    for a, b in zip(outs["a"], small):
        pd.testing.assert_frame_equal(read_features(a)[0], read_features(b)[0], rtol=1e-5, atol=1e-6)
    df, meta = read_features(outs["a"][4])
    assert list(df.columns) == ["clip_id"] + [f"l5_{k:02d}" for k in range(32)] and meta["layer"] == 5
    other = [tmp_path / "c" / f"layer{i}.parquet" for i in range(1, 6)]
    extract(shards, other, extractor={**extractor, "seed": 5}, model_config=model_config, pooling="post", batch_size=16)
    assert not read_features(other[0])[0].equals(df)
    # Identity statistics leave batch norm untouched.
    extract(shards, other, extractor={**extractor, "batchnorm": "identity"}, model_config=model_config, pooling="post", batch_size=16)
    assert read_features(other[0])[1]["model"]["batchnorm_statistics"].startswith("identity")


def test_frontend_mismatch_is_rejected(source):
    _, shards = source
    table = MelTable(shards)
    model = build_model(ModelSpec(FrontEnd(**{**FE, "n_mels": 64}), ["x"]), seed=0)
    with pytest.raises(FrontEndMismatch, match=r"n_mels: 64 \(the model\) vs 48 \(the spectrograms"):
        layer_features(model, table, pooling="post")


def test_trained_extractor_uses_saved_weights(source, tmp_path):
    tmp, shards = source
    torch.set_num_threads(1)
    train(tmp / "manifest.parquet", shards, TrainConfig(n_tags=12, epochs=1, batch_size=8), outputs(tmp_path), checkpoint_path=tmp_path / "c.pt")
    outs = [tmp_path / f"layer{i}.parquet" for i in range(1, 6)]
    meta = extract(shards, outs, extractor={"model": "m", "weights": "trained", "batch_size": 256}, model_files=(tmp_path / "model.pt", tmp_path / "model.json"), pooling="post")
    assert meta["model"]["source"]["dataset"] == "tags"
    ids, layers = layer_features(load_model(tmp_path / "model.pt", tmp_path / "model.json"), MelTable(shards), pooling="post")
    df, _ = read_features(outs[2])
    np.testing.assert_array_equal(df.drop(columns="clip_id").to_numpy(), layers[2])


cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (runs on a GPU machine)")


@cuda
def test_cuda_training_steps_never_make_the_host_wait(source):
    """Each step's spectrograms and targets reach the GPU without a synchronisation, so the
    host reads the next batch while the device runs this one (bench/train_throughput.py)."""
    _, shards = source
    table = MelTable(shards)
    device = torch.device("cuda")
    targets = {c: np.zeros(12, np.float32) for c in table.index()["clip_id"]}
    model = build_model(ModelSpec(table.frontend, [f"t{i}" for i in range(12)]), seed=0).to(device)
    model = model.to(memory_format=torch.channels_last).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    batches = list(SplitStream(table, targets, batch_size=8).epoch(np.random.default_rng(0)))
    train_step(model, optimizer, batches[0][0], batches[0][1], device, amp=True)  # first use: allocations, state
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        losses = [train_step(model, optimizer, mel, y, device, amp=True) for mel, y, _ in batches[1:4]]
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert all(torch.isfinite(loss) for loss in losses)


@cuda
def test_cuda_training_and_compiled_extraction(source, tmp_path):
    """train() on the GPU, compiled, runs to its end; compiled features equal eager ones to float rounding."""
    tmp, shards = source
    metrics = train(tmp / "manifest.parquet", shards, CONFIG, outputs(tmp_path), checkpoint_path=tmp_path / "ckpt.pt")
    assert metrics["device"].startswith("cuda") and metrics["config"]["compile"]
    model = load_model(tmp_path / "model.pt", tmp_path / "model.json", device="cuda")
    table = MelTable(shards)
    for normalisation in ("model", "dataset"):
        ids, eager = layer_features(model, table, pooling="post", normalisation=normalisation, compile=False)
        same, compiled = layer_features(model, table, pooling="post", normalisation=normalisation, compile=True)
        assert same == ids
        for a, b in zip(eager, compiled):
            np.testing.assert_allclose(b, a, rtol=0, atol=1e-4 * float(np.abs(a).max()))
