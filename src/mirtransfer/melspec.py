"""Audio to log-mel spectrogram Parquet tables, and the reader for them.

A dataset's spectrograms are one or more Parquet shards (contiguous slices of the
manifest, so reading the shards in order gives the manifest's order). Each row is
one excerpt of one clip: ``clip_id``, ``excerpt`` (0, 1, ... in time order) and
``mel``, a fixed-size list of n_mels * n_frames float16 or float32 values in
row-major (mel, frame) order. The schema metadata holds the front end, the excerpt
policy and the shape, so a table can be checked against the model that reads it.
"""

from __future__ import annotations

import json
import logging
import os
import time
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch
import torchaudio

from mirtransfer.audio import AudioError, DecodeLimits, load_mono
from mirtransfer.errors import UserError
from mirtransfer.files import atomic_path, write_json
from mirtransfer.frontend import ExcerptPolicy, FrontEnd, from_config
from mirtransfer.logmel import LogMel
from mirtransfer.manifest import read_manifest

METADATA_KEY = b"mirtransfer.melspec"
REJECTED_COLUMNS = ["clip_id", "path", "reason"]
RESAMPLE_MARGIN = 0.05  # seconds
DTYPES = {"float16": (np.float16, pa.float16()), "float32": (np.float32, pa.float32())}
TORCH_DTYPES = {"float16": torch.float16, "float32": torch.float32}


class BadAudioError(UserError, RuntimeError):
    """Raised instead of skipping a bad clip when the config asks for strictness."""


@dataclass
class ShardResult:
    """What one shard job did."""

    n_clips: int = 0
    n_excerpts: int = 0
    rejected: list[dict[str, str]] = field(default_factory=list)
    seconds: float = 0.0


def shard_bounds(n_rows: int, n_shards: int, shard: int) -> tuple[int, int]:
    """Row range [start, stop) of shard ``shard`` among ``n_shards`` contiguous slices."""
    if not 0 <= shard < n_shards:
        raise ValueError(f"shard {shard} out of range for {n_shards} shards")
    return (n_rows * shard) // n_shards, (n_rows * (shard + 1)) // n_shards


def mel_schema(frontend: FrontEnd, excerpts: ExcerptPolicy, dtype: str, extra: dict[str, Any] | None = None) -> pa.Schema:
    """Parquet schema of a spectrogram table, with every front-end parameter in its metadata."""
    meta = {
        "frontend": frontend.to_dict(),
        "excerpts": excerpts.to_dict(),
        "shape": list(frontend.shape),
        "dtype": dtype,
        **(extra or {}),
    }
    return pa.schema(
        [
            pa.field("clip_id", pa.string(), nullable=False),
            pa.field("excerpt", pa.int16(), nullable=False),
            pa.field("mel", pa.binary(frontend.n_mels * frontend.n_frames * np.dtype(DTYPES[dtype][0]).itemsize),
                     nullable=False),
        ],
        metadata={METADATA_KEY: json.dumps(meta, sort_keys=True)},
    )


def mel_column(mel: np.ndarray, dtype: str) -> pa.FixedSizeBinaryArray:
    """Spectrogram rows as one fixed-size binary value each: the row's n_mels x n_frames values
    in the storage dtype, C order (mels first), native byte order.

    Readers get a batch's rows as one zero-copy numpy view of the column's buffer, where a
    list column (the layout before) was decoded value by value, about ten times slower.
    """
    data = np.ascontiguousarray(mel.reshape(len(mel), -1), dtype=DTYPES[dtype][0])
    return pa.FixedSizeBinaryArray.from_buffers(pa.binary(data.shape[1] * data.itemsize), len(data),
                                                [None, pa.py_buffer(data)])


def open_writer(path: str | Path, schema: pa.Schema, compression: str = "none") -> pq.ParquetWriter:
    """A Parquet writer for spectrogram rows.

    The spectrogram column gets neither dictionary encoding nor statistics: both cost
    time and, for float16, make reading about five times slower.
    """
    return pq.ParquetWriter(
        path, schema, compression=compression, use_dictionary=["clip_id"], write_statistics=["clip_id", "excerpt"]
    )


class Resampler:
    """Resample mono waveforms to one rate, caching torchaudio's kernel per source rate."""

    def __init__(self, target_rate: int) -> None:
        self.target_rate = target_rate
        self._kernels: dict[int, torchaudio.transforms.Resample] = {}

    def __call__(self, wave: np.ndarray, rate: int) -> np.ndarray:
        if rate == self.target_rate:
            return wave
        if rate not in self._kernels:
            self._kernels[rate] = torchaudio.transforms.Resample(rate, self.target_rate)
        with torch.inference_mode():
            return self._kernels[rate](torch.from_numpy(wave)).numpy()


def inside_root(root: Path, relative: str) -> Path:
    """``root / relative``, refused (AudioError) when the path leaves the dataset's root.

    The check is on the path as written: ``..`` and absolute paths are refused, a
    symbolic link inside the root that points elsewhere is the user's choice and kept.
    """
    path = Path(os.path.normpath(root / relative))
    if Path(relative).is_absolute() or not path.is_relative_to(os.path.normpath(root)):
        raise AudioError(f"outside the dataset root: {relative!r} is not inside {root}; the table's paths must be "
                         "relative to the root and stay inside it")
    return path


class ExcerptReader:
    """Decode a manifest row, check it, resample it and cut it into the policy's excerpts."""

    def __init__(self, frontend: FrontEnd, excerpts: ExcerptPolicy) -> None:
        self.frontend = frontend
        self.excerpts = excerpts
        self.resample = Resampler(frontend.sample_rate)
        self.limits = DecodeLimits(min_duration=excerpts.min_duration, silence_db=excerpts.silence_db)

    def __call__(self, root: Path, row: Any) -> list[np.ndarray]:
        """The row's excerpts at the front end's rate; AudioError for a bad file."""
        return self.excerpts.split(self.wave(root, row), self.frontend)

    def wave(self, root: Path, row: Any) -> np.ndarray:
        """The row's audio at the front end's rate, as far as the excerpts reach; AudioError for a bad file."""
        path = inside_root(root, row.path)
        start = None if pd.isna(row.start) else float(row.start)
        end = None if pd.isna(row.end) else float(row.end)
        wave, rate = load_mono(
            path,
            start=start,
            end=end,
            # A little more than needed, so the resampling filter sees past the excerpt's end.
            max_seconds=self.excerpts.decode_seconds(self.frontend) + RESAMPLE_MARGIN,
            limits=self.limits,
        )
        return self.resample(wave, rate)


class MelExtractor:
    """Decode, resample, cut and transform clips in batches; write a Parquet shard."""

    def __init__(
        self,
        frontend: FrontEnd,
        excerpts: ExcerptPolicy,
        *,
        dtype: str = "float16",
        batch_size: int = 32,
        threads: int = 1,
        compression: str = "none",
        strict: bool = False,
        logger: logging.Logger | None = None,
    ) -> None:
        if dtype not in DTYPES:
            raise ValueError(f"melspec.dtype must be one of {sorted(DTYPES)}, not {dtype!r}")
        self.frontend = frontend
        self.excerpts = excerpts
        self.dtype = dtype
        self.batch_size = batch_size
        self.threads = threads
        self.compression = compression
        self.strict = strict
        self.log = logger or logging.getLogger("mirtransfer")
        self.logmel = LogMel(frontend)
        self.read = ExcerptReader(frontend, excerpts)

    def _transform(self, excerpts: list[np.ndarray]) -> np.ndarray:
        """Log-mel of a batch of equal-length excerpts, flattened per row, in the storage dtype."""
        with torch.inference_mode():
            mel = self.logmel(torch.from_numpy(np.stack(excerpts)))
            return mel.reshape(len(excerpts), -1).to(TORCH_DTYPES[self.dtype]).numpy()

    def run(self, manifest: pd.DataFrame, root: Path, out: Path, extra_meta: dict[str, Any] | None = None) -> ShardResult:
        """Write the spectrograms of every usable clip of ``manifest`` to ``out``."""
        t0 = time.perf_counter()
        result = ShardResult(n_clips=len(manifest))
        schema = mel_schema(self.frontend, self.excerpts, self.dtype, extra_meta)
        rows = list(manifest.itertuples(index=False))
        with atomic_path(out) as tmp, ThreadPoolExecutor(max_workers=max(self.threads, 1)) as pool:
            writer = open_writer(tmp, schema, self.compression)
            batches = [rows[i : i + self.batch_size] for i in range(0, len(rows), self.batch_size)]
            pending = [pool.submit(self.read, root, r) for r in batches[0]] if batches else []
            try:
                for k, batch in enumerate(batches):
                    # Decode the next batch while this one is transformed and written.
                    futures = pending
                    if k + 1 < len(batches):
                        pending = [pool.submit(self.read, root, r) for r in batches[k + 1]]
                    ids, index, waves = [], [], []
                    for row, future in zip(batch, futures):
                        try:
                            parts = future.result()
                        except AudioError as err:
                            path = root / row.path
                            if self.strict:
                                raise BadAudioError(
                                    f"{path} (clip {row.clip_id}): {err}. Fix or remove the file, or set "
                                    "fail_on_bad_audio: false to list it in rejected.csv and go on"
                                ) from err
                            self.log.warning("rejected %s: %s", path, err)
                            result.rejected.append({"clip_id": row.clip_id, "path": str(path), "reason": str(err)})
                            continue
                        ids += [row.clip_id] * len(parts)
                        index += range(len(parts))
                        waves += parts
                    if waves:
                        table = pa.table(
                            [
                                pa.array(ids, pa.string()),
                                pa.array(index, pa.int16()),
                                mel_column(self._transform(waves), self.dtype),
                            ],
                            schema=schema,
                        )
                        writer.write_table(table, row_group_size=len(ids))
                        result.n_excerpts += len(ids)
                    self.log.info("%d/%d clips", min((k + 1) * self.batch_size, len(rows)), len(rows))
            finally:
                writer.close()
        result.seconds = time.perf_counter() - t0
        return result


def write_rejected(rejected: Sequence[dict[str, str]], path: str | Path) -> None:
    """Write the rejected-clip list (clip_id, path, reason) as CSV, header even when empty."""
    with atomic_path(path) as tmp:
        pd.DataFrame(list(rejected), columns=REJECTED_COLUMNS).to_csv(tmp, index=False)


def mel_tensor(mel: np.ndarray, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A (batch, n_mels, n_frames) array as a (batch, 1, n_mels, n_frames) tensor on ``device``.

    The array may be a read-only view of an Arrow buffer; the one copy is the move/cast
    to device and dtype.
    """
    with warnings.catch_warnings():  # a read-only view is copied before any write
        warnings.simplefilter("ignore", UserWarning)
        view = torch.from_numpy(mel).unsqueeze(1)
    if torch.device(device).type == "cpu":
        return view.to(dtype=dtype)
    # Move in the storage dtype (half the bytes for float16), cast on the device.
    return view.pin_memory().to(device, non_blocking=True).to(dtype)


@dataclass
class MelBatch:
    """A batch of spectrogram rows: ids, excerpt indices and a (batch, n_mels, n_frames) array."""

    clip_ids: list[str]
    excerpt: np.ndarray
    mel: np.ndarray

    def to_tensor(self, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The spectrograms as a (batch, 1, n_mels, n_frames) tensor on ``device``."""
        return mel_tensor(self.mel, device, dtype)


class MelTable:
    """The shards of one dataset's spectrograms, read as one table in shard order."""

    def __init__(self, paths: Sequence[str | Path]) -> None:
        if not paths:
            raise ValueError("no spectrogram shard given")
        self.paths = [Path(p) for p in paths]
        self._files = [pq.ParquetFile(p) for p in self.paths]
        metas = [json.loads(f.schema_arrow.metadata[METADATA_KEY]) for f in self._files]
        for path, meta in zip(self.paths[1:], metas[1:]):
            if {k: meta[k] for k in ("frontend", "excerpts", "shape", "dtype")} != {
                k: metas[0][k] for k in ("frontend", "excerpts", "shape", "dtype")
            }:
                raise ValueError(f"{path} was made with other settings than {self.paths[0]}; rebuild the shards")
        self.metadata: dict[str, Any] = metas[0]
        self.frontend = FrontEnd.from_dict(self.metadata["frontend"])
        self.excerpts = ExcerptPolicy(**self.metadata["excerpts"])
        self.shape: tuple[int, int] = tuple(self.metadata["shape"])  # type: ignore[assignment]
        if self.num_rows == 0:
            raise UserError(f"{', '.join(map(str, self.paths))}: no spectrogram at all: every clip of dataset "
                            f"{self.metadata.get('dataset')!r} was rejected; see the rejected-*.csv beside the shards "
                            "and fix the files or the table")

    @property
    def num_rows(self) -> int:
        return sum(f.metadata.num_rows for f in self._files)

    def index(self) -> pd.DataFrame:
        """clip_id and excerpt of every row, in table order (reads no spectrogram)."""
        parts = [f.read(columns=["clip_id", "excerpt"]).to_pandas() for f in self._files]
        return pd.concat(parts, ignore_index=True)

    def iter_batches(self, batch_size: int = 64, prefetch: int = 2) -> Iterator[MelBatch]:
        """Stream the table in order, in batches of up to ``batch_size`` rows.

        A batch never spans two row groups (the writer's melspec.batch_size), so each
        batch's array is a view of the decoded Arrow buffer, not a copy.

        Row groups are decoded ``prefetch`` at a time by background threads (pyarrow
        releases the GIL), so reading overlaps with the consumer's work; memory holds
        about prefetch + 1 row groups.
        """
        groups = [(i, g) for i, f in enumerate(self._files) for g in range(f.num_row_groups)]
        with ThreadPoolExecutor(max_workers=max(prefetch, 1)) as pool:
            pending = [pool.submit(self._read_group, *g) for g in groups[:prefetch]]
            for k in range(len(groups)):
                group = (pending.pop(0) if pending else pool.submit(self._read_group, *groups[k])).result()
                if k + prefetch < len(groups):
                    pending.append(pool.submit(self._read_group, *groups[k + prefetch]))
                for rb in group.to_batches(max_chunksize=batch_size):
                    yield self._to_batch(rb)

    def _read_group(self, file: int, group: int) -> pa.Table:
        # A reader of its own per call: prefetch threads must not share one ParquetFile
        # (concurrent reads through one deadlocked); the parsed footer is reused. The file is
        # memory-mapped: the pages are read from the page cache without a copy into a buffer
        # of their own (row groups read 1.6 to 1.7x faster here).
        reader = pq.ParquetFile(self.paths[file], metadata=self._files[file].metadata, memory_map=True,
                                pre_buffer=False)
        return reader.read_row_group(group, use_threads=False).combine_chunks()

    def _to_batch(self, rb: pa.RecordBatch) -> MelBatch:
        column = rb.column("mel")
        if pa.types.is_fixed_size_binary(column.type):  # a view of the column's buffer (mel_column)
            storage, width = np.dtype(DTYPES[self.metadata["dtype"]][0]), column.type.byte_width
            flat = np.frombuffer(column.buffers()[1], dtype=storage, count=len(rb) * width // storage.itemsize,
                                 offset=column.offset * width)
        else:  # caches written before the binary layout: one list value per row
            flat = column.flatten().to_numpy(zero_copy_only=True)
        return MelBatch(
            clip_ids=rb.column("clip_id").to_pylist(),
            excerpt=rb.column("excerpt").to_numpy(),
            mel=flat.reshape(len(rb), *self.shape),
        )

    def take(self, rows: Sequence[int]) -> MelBatch:
        """The given rows (table positions), in the order given, as one batch.

        Only the row groups that hold them are read, one at a time.
        """
        rows = np.asarray(rows, dtype=np.int64)
        sizes = [f.metadata.row_group(g).num_rows for f in self._files for g in range(f.num_row_groups)]
        groups = [(i, g) for i, f in enumerate(self._files) for g in range(f.num_row_groups)]
        starts = np.cumsum([0] + sizes)
        if len(rows) and (rows.min() < 0 or rows.max() >= starts[-1]):
            raise IndexError(f"rows out of range for a table of {starts[-1]} rows")
        which = np.searchsorted(starts, rows, side="right") - 1
        mel = np.empty((len(rows), *self.shape), dtype=DTYPES[self.metadata["dtype"]][0])
        ids: list[str] = [""] * len(rows)
        excerpt = np.empty(len(rows), dtype=np.int16)
        for group in np.unique(which):
            batch = self._to_batch(self._read_group(*groups[group]).to_batches()[0])
            picked = np.flatnonzero(which == group)
            local = rows[picked] - starts[group]
            mel[picked] = batch.mel[local]
            excerpt[picked] = batch.excerpt[local]
            for k, j in zip(picked, local):
                ids[k] = batch.clip_ids[j]
        return MelBatch(clip_ids=ids, excerpt=excerpt, mel=mel)

    def row_group_ids(self) -> dict[tuple[int, int], list[str]]:
        """The clip ids of every (file, row group), the unit of streaming and shuffling (reads no spectrogram)."""
        return {
            (i, g): f.read_row_group(g, columns=["clip_id"]).column("clip_id").to_pylist()
            for i, f in enumerate(self._files)
            for g in range(f.num_row_groups)
        }

    def read_row_group(self, file: int, group: int) -> MelBatch:
        """One row group as a batch."""
        return self._to_batch(self._read_group(file, group).to_batches()[0])

    def read_clip(self, clip_id: str) -> np.ndarray:
        """All excerpts of one clip as an (excerpts, n_mels, n_frames) array.

        A clip's excerpts are always written to one row group, so one group is read.
        """
        for f in self._files:
            for i in range(f.num_row_groups):
                mask = pc.equal(f.read_row_group(i, columns=["clip_id"]).column("clip_id"), clip_id)
                if pc.any(mask).as_py():
                    rows = f.read_row_group(i).filter(mask).combine_chunks()
                    return self._to_batch(rows.to_batches()[0]).mel.copy()
        raise KeyError(f"clip {clip_id!r} is not in {', '.join(map(str, self.paths))}")


def run_shard(
    manifest_path: str | Path,
    shard: int,
    n_shards: int,
    *,
    frontend: dict[str, Any],
    excerpts: dict[str, Any],
    melspec: dict[str, Any],
    strict: bool,
    mel_out: str | Path,
    rejected_out: str | Path,
    threads: int = 1,
    logger: logging.Logger | None = None,
) -> ShardResult:
    """Compute one shard of a dataset's spectrograms from its manifest and the config sections."""
    log = logger or logging.getLogger("mirtransfer")
    torch.set_num_threads(threads)
    manifest, meta = read_manifest(manifest_path)
    lo, hi = shard_bounds(len(manifest), n_shards, shard)
    extractor = MelExtractor(
        from_config(frontend),
        ExcerptPolicy(**excerpts),
        **melspec,  # dtype, batch_size, compression
        threads=threads,
        strict=strict,
        logger=log,
    )
    log.info("dataset %s shard %d/%d: clips %d..%d of %d", meta["dataset"], shard + 1, n_shards, lo, hi, len(manifest))
    result = extractor.run(
        manifest.iloc[lo:hi],
        Path(meta["root"]),
        Path(mel_out),
        extra_meta={"dataset": meta["dataset"], "shard": shard, "n_shards": n_shards},
    )
    write_rejected(result.rejected, rejected_out)
    log.info(
        "%d clips -> %d excerpts, %d rejected, %.1f s (%.1f clips/s)",
        result.n_clips, result.n_excerpts, len(result.rejected), result.seconds, result.n_clips / max(result.seconds, 1e-9),
    )
    return result


def summarize(
    manifest_path: str | Path,
    mel_paths: Sequence[str | Path],
    rejected_paths: Sequence[str | Path],
    rejected_out: str | Path,
    summary_out: str | Path,
) -> dict[str, Any]:
    """Merge the shards' rejected lists and write the dataset's summary (counts and reasons)."""
    manifest, meta = read_manifest(manifest_path)
    rejected = pd.concat([pd.read_csv(p, dtype=str, keep_default_na=False) for p in rejected_paths], ignore_index=True)
    write_rejected(rejected.to_dict("records"), rejected_out)
    if all(pq.ParquetFile(p).metadata.num_rows == 0 for p in mel_paths):
        reasons = rejected["reason"].str.split(":").str[0].value_counts().to_dict()
        raise UserError(f"dataset {meta['dataset']!r}: all {len(manifest)} clips were rejected ({reasons}); see "
                        f"{', '.join(map(str, rejected_paths))} and fix the files or the table, then rerun")
    table = MelTable(mel_paths)
    index = table.index()
    summary = {
        "dataset": meta["dataset"],
        "label_kind": meta["label_kind"],
        "n_clips": len(manifest),
        "n_rejected": len(rejected),
        "n_kept": int(index["clip_id"].nunique()),
        "n_excerpts": len(index),
        "rejected_reasons": rejected["reason"].str.split(":").str[0].value_counts().to_dict() if len(rejected) else {},
        "frontend": table.metadata["frontend"],
        "excerpts": table.metadata["excerpts"],
        "dtype": table.metadata["dtype"],
        "shape": table.metadata["shape"],
        "mel_shards": [str(p) for p in mel_paths],
    }
    write_json(summary, summary_out)
    return summary
