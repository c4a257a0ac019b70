"""The spectrogram table: its Parquet format and its reader (what training, extraction and users read).

Each row is one excerpt of one clip: ``clip_id``, ``excerpt`` (0, 1, ... in time
order) and ``mel``, one fixed-size binary value holding the n_mels x n_frames values
in the storage dtype (float16 or float32), C order (mels first). The schema metadata
(key METADATA_KEY) holds the front end, the excerpt policy, the shape and the dtype,
so a table can be checked against the model that reads it. Tables written with
``mel`` as a list column (before the binary layout) still read.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import torch

from mirtransfer.errors import UserError
from mirtransfer.frontend import ExcerptPolicy, FrontEnd
from mirtransfer.parquet_pages import plain_pages

METADATA_KEY = b"mirtransfer.melspec"
DTYPES = {"float16": (np.float16, pa.float16()), "float32": (np.float32, pa.float32())}


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


def to_device(t: torch.Tensor, device: str | torch.device) -> torch.Tensor:
    """``t`` on ``device``; to a GPU it is copied from pinned memory without waiting.

    A copy from pageable memory makes the host wait until the device has run all its queued
    work, so the host could not read the next batch while the device computes this one.
    """
    if torch.device(device).type == "cpu":
        return t
    return t.pin_memory().to(device, non_blocking=True)


def mel_tensor(mel: np.ndarray, device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A (batch, n_mels, n_frames) array as a (batch, 1, n_mels, n_frames) tensor on ``device``.

    The array may be a read-only view of an Arrow buffer; the one copy is the move/cast
    to device and dtype.
    """
    with warnings.catch_warnings():  # a read-only view is copied before any write
        warnings.simplefilter("ignore", UserWarning)
        view = torch.from_numpy(mel).unsqueeze(1)
    # Move in the storage dtype (half the bytes for float16), cast on the device.
    return to_device(view, device).to(dtype)


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
        self._mapped = [pa.memory_map(str(p)).read_buffer() for p in self.paths]  # the files' bytes, for read_row_group
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
        batch's array is a view of its row group's (see ``read_row_group``), not a copy.

        Row groups are read ``prefetch`` at a time by background threads (pyarrow
        releases the GIL), so reading overlaps with the consumer's work; memory holds
        about prefetch + 1 row groups where pyarrow decodes them, none where they are
        views of the file.
        """
        groups = [(i, g) for i, f in enumerate(self._files) for g in range(f.num_row_groups)]
        with ThreadPoolExecutor(max_workers=max(prefetch, 1)) as pool:
            pending = [pool.submit(self.read_row_group, *g) for g in groups[:prefetch]]
            for k in range(len(groups)):
                group = (pending.pop(0) if pending else pool.submit(self.read_row_group, *groups[k])).result()
                if k + prefetch < len(groups):
                    pending.append(pool.submit(self.read_row_group, *groups[k + prefetch]))
                for start in range(0, len(group.clip_ids), batch_size):
                    stop = start + batch_size
                    yield MelBatch(group.clip_ids[start:stop], group.excerpt[start:stop], group.mel[start:stop])

    def read_row_group(self, file: int, group: int) -> MelBatch:
        """One row group as a batch; its array is read-only.

        Tables written by ``open_writer`` without compression hold each spectrogram as it
        lies in memory: the array is then a view of the memory-mapped file (see
        :mod:`mirtransfer.parquet_pages`), and reading costs no pass over the bytes; the
        page cache holds them. Other layouts (compressed tables, the list column of older
        caches) are decoded by pyarrow.
        """
        # A reader of its own per call: prefetch threads must not share one ParquetFile
        # (concurrent reads through one deadlocked); the parsed footer is reused.
        metadata = self._files[file].metadata
        reader = pq.ParquetFile(self.paths[file], metadata=metadata, memory_map=True, pre_buffer=False)
        storage = np.dtype(DTYPES[self.metadata["dtype"]][0])
        leaves = [metadata.schema.column(i).path for i in range(metadata.num_columns)]  # Parquet's columns, not Arrow's
        pages = plain_pages(self._mapped[file], metadata, group, leaves.index("mel")) if "mel" in leaves else None
        if pages is None:
            table = reader.read_row_group(group, use_threads=False).combine_chunks()
            column = table.column("mel").chunks[0] if table.num_rows else pa.array([], table.schema.field("mel").type)
            if column.null_count:
                raise UserError(f"{self.paths[file]}: row group {group} has {column.null_count} rows without a "
                                "spectrogram (null); rebuild the table with the workflow's melspec rule")
            if pa.types.is_fixed_size_binary(column.type):  # one value per row (mel_column): a view of its buffer
                width = column.type.byte_width
                flat = np.frombuffer(column.buffers()[1], dtype=storage, count=len(column) * width // storage.itemsize,
                                     offset=column.offset * width)
            else:  # caches written before the binary layout: one list value per row
                flat = column.flatten().to_numpy(zero_copy_only=True)
        else:
            table = reader.read_row_group(group, columns=["clip_id", "excerpt"], use_threads=False)
            flat = (pages[0] if len(pages) == 1 else np.concatenate(pages)).view(storage)
        return MelBatch(
            clip_ids=table.column("clip_id").to_pylist(),
            excerpt=table.column("excerpt").to_numpy(),
            mel=flat.reshape(table.num_rows, *self.shape),
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
            batch = self.read_row_group(*groups[group])
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

    def read_clip(self, clip_id: str) -> np.ndarray:
        """All excerpts of one clip as an (excerpts, n_mels, n_frames) array.

        A clip's excerpts are always written to one row group, so one group is read.
        """
        for k, f in enumerate(self._files):
            for i in range(f.num_row_groups):
                mask = pc.equal(f.read_row_group(i, columns=["clip_id"]).column("clip_id"), clip_id)
                if pc.any(mask).as_py():
                    return self.read_row_group(k, i).mel[mask.to_numpy(zero_copy_only=False)]
        raise KeyError(f"clip {clip_id!r} is not in {', '.join(map(str, self.paths))}")
