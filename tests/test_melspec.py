"""Audio to Parquet spectrograms: values, metadata, order, shards, rejected files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
import torchaudio

from conftest import write_tone
from mirtransfer.audio import load_mono
from mirtransfer.frontend import ExcerptPolicy, FrontEnd
from mirtransfer.logmel import LogMel
from mirtransfer.datasets import build_manifest
from mirtransfer.errors import UserError
from mirtransfer.manifest import write_manifest
from mirtransfer.excerpts import Resampler
from mirtransfer.melspec import BadAudioError, MelExtractor, run_shard, shard_bounds, summarize
from mirtransfer.meltable import METADATA_KEY, MelTable
from mirtransfer.parquet_pages import plain_pages

FE = FrontEnd(duration=2.0)


@pytest.fixture
def dataset(tmp_path, bad_files):
    """A csv dataset: good clips in several formats and rates, plus every kind of bad file."""
    root = tmp_path / "data"
    good = []
    for i, (suffix, sr) in enumerate([(".wav", 12000), (".flac", 22050), (".ogg", 44100), (".mp3", 16000), (".au", 8000), (".wav", 48000)]):
        good.append(write_tone(root / f"good{i}{suffix}", 1.5 + 0.5 * i, sr, freq=200.0 * (i + 1)).name)
    bad = []
    for reason, path in bad_files.items():
        target = root / f"bad_{reason}{path.suffix}"
        if path.exists():
            target.write_bytes(path.read_bytes())
        bad.append(target.name)
    pd.DataFrame({"path": good + bad, "label": ["x"] * len(good + bad)}).to_csv(root / "labels.csv", index=False)
    manifest = build_manifest("toy", {"type": "csv", "root": str(root), "table": "labels.csv", "columns": {"label": "label"}})
    write_manifest(manifest, tmp_path / "manifest.parquet", {"dataset": "toy", "root": str(root)})
    return root, manifest, good, bad


def test_values_order_and_metadata(tmp_path, dataset):
    root, manifest, good, bad = dataset
    out = tmp_path / "mel.parquet"
    result = MelExtractor(FE, ExcerptPolicy(), dtype="float32", batch_size=4, threads=2).run(manifest, root, out)
    assert result.n_clips == len(good) + len(bad) and result.n_excerpts == len(good)
    assert sorted(r["path"].split("/")[-1] for r in result.rejected) == sorted(bad)
    table = MelTable([out])
    assert table.shape == FE.shape and table.frontend == FE and table.metadata["dtype"] == "float32"
    kept = [c for c in manifest["clip_id"] if c.startswith("good")]
    assert table.index()["clip_id"].tolist() == kept  # manifest order, rejected clips left out
    # Each row equals the front end applied to the decoded, resampled, padded clip.
    resample, logmel = Resampler(FE.sample_rate), LogMel(FE)
    rows = {cid: mel for b in table.iter_batches(3) for cid, mel in zip(b.clip_ids, b.mel)}
    for cid in kept:
        wave, sr = load_mono(root / manifest.set_index("clip_id").loc[cid, "path"])
        x = ExcerptPolicy().split(resample(wave, sr), FE)[0]
        expected = logmel(torch.from_numpy(x)[None])[0].numpy()
        # Compared as power: float32 rounding in the resampler moves bins near -90 dB by 0.01 dB.
        power, ref = 10 ** (rows[cid] / 10), 10 ** (expected / 10)
        np.testing.assert_allclose(power, ref, rtol=1e-3, atol=1e-6 * ref.max())
        np.testing.assert_array_equal(table.read_clip(cid)[0], rows[cid])
    meta = json.loads(pq.read_schema(out).metadata[METADATA_KEY])
    assert meta["frontend"] == FE.to_dict() and meta["shape"] == [96, FE.n_frames]


def test_resampling_keeps_the_pitch():
    x = np.sin(2 * np.pi * 1000 * np.arange(44100) / 44100).astype(np.float32)
    y = Resampler(12000)(x, 44100)
    assert len(y) == 12000
    assert np.argmax(np.abs(np.fft.rfft(y))) == 1000


@pytest.mark.parametrize("rate, target", [(22050, 12000), (44100, 12000), (48000, 12000), (16000, 12000),
                                          (8000, 12000), (11025, 12000), (22050, 16000)])
def test_resampler_is_torchaudios_resampling(rate, target):
    # Zero taps skipped, the others summed by groups of phases: torchaudio's output to float rounding.
    x = np.random.default_rng(rate).standard_normal(rate * 3 + 7).astype(np.float32)
    y = Resampler(target)(x, rate)
    ref = torchaudio.functional.resample(torch.from_numpy(x), rate, target).numpy()
    assert y.dtype == np.float32 and y.shape == ref.shape
    np.testing.assert_allclose(y, ref, rtol=0, atol=1e-5 * np.abs(ref).max())


def test_float16_storage_and_batches(tmp_path, dataset):
    root, manifest, good, _ = dataset
    out16, out32 = tmp_path / "16.parquet", tmp_path / "32.parquet"
    MelExtractor(FE, ExcerptPolicy(), dtype="float16", batch_size=2).run(manifest, root, out16)
    MelExtractor(FE, ExcerptPolicy(), dtype="float32", batch_size=5).run(manifest, root, out32)
    a, b = MelTable([out16]), MelTable([out32])
    batch = next(b.iter_batches(4))
    assert batch.mel.dtype == np.float32 and batch.mel.shape == (4, *FE.shape)
    batch = next(a.iter_batches(4))  # batches stay within a row group (2 clips here)
    assert batch.mel.dtype == np.float16 and batch.mel.shape == (2, *FE.shape)
    tensor = batch.to_tensor()
    assert tensor.shape == (2, 1, *FE.shape) and tensor.dtype == torch.float32
    full16 = np.concatenate([x.mel for x in a.iter_batches(100)]).astype(np.float32)
    full32 = np.concatenate([x.mel for x in b.iter_batches(100)])
    np.testing.assert_allclose(full16, full32, atol=0.07)  # float16 keeps about 0.03 dB at 60 dB
    assert pq.ParquetFile(out16).metadata.num_row_groups == 3  # one per batch of 2 clips; the 3 batches of rejected clips write none


def test_binary_layout_and_list_caches(tmp_path, dataset):
    """One fixed-size binary value per row, readable with pandas and numpy; caches in the earlier
    list layout (one float list per row) still read, to the same arrays."""
    root, manifest, _, _ = dataset
    out = tmp_path / "mel.parquet"
    MelExtractor(FE, ExcerptPolicy(), dtype="float16", batch_size=4).run(manifest, root, out)
    table = MelTable([out])
    rows = np.concatenate([b.mel for b in table.iter_batches(3)])
    frame = pd.read_parquet(out)
    meta = json.loads(pq.read_schema(out).metadata[METADATA_KEY])
    first = np.frombuffer(frame["mel"].iloc[0], dtype=meta["dtype"]).reshape(meta["shape"])
    np.testing.assert_array_equal(first, rows[0])
    arrow = pq.read_table(out)
    values = np.frombuffer(arrow.column("mel").combine_chunks().buffers()[1], dtype=np.float16)
    as_lists = pa.FixedSizeListArray.from_arrays(pa.array(values), int(np.prod(FE.shape)))
    old = tmp_path / "old.parquet"
    pq.write_table(arrow.set_column(2, pa.field("mel", as_lists.type), as_lists).replace_schema_metadata(
        arrow.schema.metadata), old, row_group_size=4)
    assert pa.types.is_fixed_size_list(pq.read_schema(old).field("mel").type)
    np.testing.assert_array_equal(np.concatenate([b.mel for b in MelTable([old]).iter_batches(3)]), rows)
    np.testing.assert_array_equal(MelTable([old]).take([2, 0]).mel, rows[[2, 0]])


def test_uncompressed_tables_read_as_views_of_the_file(tmp_path, dataset):
    """The default (uncompressed) table's rows are views of the memory-mapped file; a compressed
    table, decoded by pyarrow, reads to the same arrays."""
    root, manifest, _, _ = dataset
    plain, packed = tmp_path / "plain.parquet", tmp_path / "zstd.parquet"
    MelExtractor(FE, ExcerptPolicy(), dtype="float16", batch_size=4).run(manifest, root, plain)
    MelExtractor(FE, ExcerptPolicy(), dtype="float16", batch_size=4, compression="zstd").run(manifest, root, packed)
    metadata = pq.ParquetFile(plain).metadata
    mel = metadata.schema.names.index("mel")
    assert plain_pages(pa.memory_map(str(plain)).read_buffer(), metadata, 0, mel) is not None
    assert plain_pages(pa.memory_map(str(packed)).read_buffer(), pq.ParquetFile(packed).metadata, 0, mel) is None
    a, b = MelTable([plain]), MelTable([packed])
    for x, y in zip(a.iter_batches(3), b.iter_batches(3), strict=True):
        assert x.clip_ids == y.clip_ids and not x.mel.flags.writeable
        np.testing.assert_array_equal(x.excerpt, y.excerpt)
        np.testing.assert_array_equal(x.mel, y.mel)
    np.testing.assert_array_equal(a.take([3, 0, 2]).mel, b.take([3, 0, 2]).mel)
    clip = a.index()["clip_id"].iloc[-1]
    np.testing.assert_array_equal(a.read_clip(clip), b.read_clip(clip))


def test_tables_written_elsewhere_read_their_own_column_or_are_refused(tmp_path, dataset):
    """A table rewritten outside the workflow: a struct column before mel (Arrow's column 1 is Parquet's
    columns 1 and 2) still reads mel's bytes; a nullable mel column with a null row is refused."""
    root, manifest, _, _ = dataset
    plain = tmp_path / "plain.parquet"
    MelExtractor(FE, ExcerptPolicy(), dtype="float16", batch_size=4).run(manifest, root, plain)
    table = pq.read_table(plain)
    width = table.schema.field("mel").type.byte_width
    info = pa.StructArray.from_arrays([pa.array(np.arange(len(table), dtype=np.int32)),
                                       pa.array([b"\x00" * width] * len(table), pa.binary(width))], names=["a", "b"])
    moved = pa.table({"clip_id": table["clip_id"], "info": info, "mel": table["mel"], "excerpt": table["excerpt"]})
    pq.write_table(moved.replace_schema_metadata(table.schema.metadata), tmp_path / "moved.parquet", compression="none",
                   use_dictionary=False, write_statistics=False)
    original, other = MelTable([plain]), MelTable([tmp_path / "moved.parquet"])
    everything = list(range(original.num_rows))
    np.testing.assert_array_equal(other.take(everything).mel, original.take(everything).mel)
    values = table["mel"].combine_chunks()
    valid = pa.array([True, False] + [True] * (len(values) - 2)).buffers()[1]  # row 1 null
    holes = pa.FixedSizeBinaryArray.from_buffers(values.type, len(values), [valid, values.buffers()[1]])
    nullable = table.set_column(2, pa.field("mel", values.type, nullable=True), holes)
    pq.write_table(nullable, tmp_path / "nulls.parquet", compression="none", use_dictionary=False)
    with pytest.raises(UserError, match=r"nulls\.parquet: row group 0 has 1 rows without a spectrogram \(null\)"):
        MelTable([tmp_path / "nulls.parquet"]).read_row_group(0, 0)


def test_strict_mode_fails_and_leaves_no_output(tmp_path, dataset):
    root, manifest, _, _ = dataset
    out = tmp_path / "mel.parquet"
    with pytest.raises(BadAudioError, match=r"bad_\w+\.wav .*fail_on_bad_audio: false"):
        MelExtractor(FE, ExcerptPolicy(), strict=True).run(manifest, root, out)
    assert not out.exists() and not list(tmp_path.glob(".mel.parquet*"))


def test_shards_read_back_as_one_dataset(tmp_path, dataset):
    root, manifest, good, bad = dataset
    assert [shard_bounds(10, 3, i) for i in range(3)] == [(0, 3), (3, 6), (6, 10)]
    config = dict(frontend=FE.to_dict(), excerpts={"policy": "first", "pad": "repeat"}, melspec={"batch_size": 3}, strict=False)
    mel, rejected = [], []
    for shard in range(3):
        mel.append(tmp_path / f"part-{shard:03d}.parquet")
        rejected.append(tmp_path / f"rejected-{shard:03d}.csv")
        run_shard(tmp_path / "manifest.parquet", shard, 3, mel_out=mel[-1], rejected_out=rejected[-1], threads=1, **config)
    table = MelTable(mel)
    assert table.num_rows == len(good)
    assert table.index()["clip_id"].tolist() == [c for c in manifest["clip_id"] if c.startswith("good")]
    assert table.excerpts.pad == "repeat"
    summary = summarize(tmp_path / "manifest.parquet", mel, rejected, tmp_path / "rejected.csv", tmp_path / "summary.json")
    assert summary["n_rejected"] == len(bad) and summary["n_kept"] == len(good)
    assert set(summary["rejected_reasons"]) == {"file not found", "empty file (0 bytes)", "not decodable audio (Format not recognised.)",
                                                "truncated or corrupt", "silent", "too short"}
    listed = pd.read_csv(tmp_path / "rejected.csv")
    assert list(listed.columns) == ["clip_id", "path", "reason"] and len(listed) == len(bad)


def test_all_excerpts_policy(tmp_path):
    root = tmp_path / "d"
    write_tone(root / "long.wav", 7.0, 12000)
    write_tone(root / "short.wav", 1.2, 12000)
    manifest = build_manifest("t", {"type": "folder_per_class", "root": str(tmp_path)})
    out = tmp_path / "m.parquet"
    MelExtractor(FE, ExcerptPolicy("all"), batch_size=1).run(manifest, tmp_path, out)
    index = MelTable([out]).index()
    assert index.values.tolist() == [["d/long", 0], ["d/long", 1], ["d/long", 2], ["d/long", 3], ["d/short", 0]]
    assert MelTable([out]).read_clip("d/long").shape == (4, *FE.shape)


def test_mixed_settings_are_refused(tmp_path):
    root = tmp_path / "c"
    write_tone(root / "a.wav", 2.0, 12000)
    manifest = build_manifest("t", {"type": "folder_per_class", "root": str(tmp_path)})
    MelExtractor(FE, ExcerptPolicy()).run(manifest, tmp_path, tmp_path / "a.parquet")
    MelExtractor(FrontEnd(duration=3.0), ExcerptPolicy()).run(manifest, tmp_path, tmp_path / "b.parquet")
    with pytest.raises(ValueError, match="other settings"):
        MelTable([tmp_path / "a.parquet", tmp_path / "b.parquet"])


def test_paths_outside_the_root_are_rejected(tmp_path):
    """'..' and absolute paths in a table are rejected (or stop a strict run); a link inside the root is kept."""
    root = tmp_path / "data"
    write_tone(root / "in.wav", 2.0, 12000)
    outside = write_tone(tmp_path / "other" / "clip.wav", 2.0, 12000)
    (root / "link.wav").symlink_to(outside)
    rows = ["in.wav", "link.wav", "../other/clip.wav", str(outside), "sub/../../other/clip.wav"]
    manifest = pd.DataFrame({"clip_id": [f"c{i}" for i in range(len(rows))], "path": rows, "start": None, "end": None})
    result = MelExtractor(FE, ExcerptPolicy()).run(manifest, root, tmp_path / "mel.parquet")
    assert MelTable([tmp_path / "mel.parquet"]).index()["clip_id"].tolist() == ["c0", "c1"]
    assert [r["clip_id"] for r in result.rejected] == ["c2", "c3", "c4"]
    assert all(r["reason"].startswith("outside the dataset root: ") for r in result.rejected)
    with pytest.raises(BadAudioError, match=r"\(clip c2\): outside the dataset root: '../other/clip.wav'"):
        MelExtractor(FE, ExcerptPolicy(), strict=True).run(manifest, root, tmp_path / "strict.parquet")


def test_dataset_with_every_clip_rejected_stops_in_one_line(tmp_path, bad_files):
    root = tmp_path / "data"
    names = []
    for reason, path in bad_files.items():
        target = root / f"bad_{reason}{path.suffix}"
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.exists():
            target.write_bytes(path.read_bytes())
        names.append(target.name)
    pd.DataFrame({"path": names}).to_csv(root / "t.csv", index=False)
    write_manifest(build_manifest("allbad", {"type": "csv", "root": str(root), "table": "t.csv"}),
                   tmp_path / "manifest.parquet", {"dataset": "allbad", "root": str(root)})
    config = dict(frontend=FE.to_dict(), excerpts={"policy": "first", "pad": "zero"}, melspec={}, strict=False)
    run_shard(tmp_path / "manifest.parquet", 0, 1, mel_out=tmp_path / "part-000.parquet",
              rejected_out=tmp_path / "rejected-000.csv", threads=1, **config)
    with pytest.raises(UserError, match=rf"dataset 'allbad': all {len(names)} clips were rejected \(.*rejected-000.csv"):
        summarize(tmp_path / "manifest.parquet", [tmp_path / "part-000.parquet"], [tmp_path / "rejected-000.csv"],
                  tmp_path / "rejected.csv", tmp_path / "summary.json")
    with pytest.raises(UserError, match="no spectrogram at all: every clip of dataset 'allbad' was rejected"):
        MelTable([tmp_path / "part-000.parquet"])
