"""Audio to log-mel spectrogram Parquet tables: one shard of a dataset's manifest per job.

A dataset's spectrograms are one or more Parquet shards (contiguous slices of the
manifest, so reading the shards in order gives the manifest's order), in the format
of :mod:`mirtransfer.meltable`, which also reads them. Clips are decoded, resampled
and cut by :mod:`mirtransfer.excerpts`; bad clips are listed in ``rejected-*.csv``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from mirtransfer.audio import AudioError
from mirtransfer.errors import UserError
from mirtransfer.excerpts import ExcerptReader
from mirtransfer.files import atomic_path, write_json
from mirtransfer.frontend import ExcerptPolicy, FrontEnd, from_config
from mirtransfer.logmel import LogMel
from mirtransfer.manifest import read_manifest
from mirtransfer.meltable import DTYPES, MelTable, mel_column, mel_schema, open_writer

REJECTED_COLUMNS = ["clip_id", "path", "reason"]
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

    def _clip(self, root: Path, row: Any) -> np.ndarray:
        """One clip's spectrogram rows, (excerpts, n_mels * n_frames) in the storage dtype; AudioError for a bad file.

        Decoded, resampled and transformed in one worker thread, clip by clip: a clip's
        intermediate arrays (a few MB) are memory malloc reuses, where a batch's (tens of
        MB) were fresh pages each time, and the transform was 2.8x slower.
        """
        excerpts = self.read(root, row)
        with torch.inference_mode():
            mel = self.logmel(torch.from_numpy(np.stack(excerpts)))
            return mel.reshape(len(excerpts), -1).to(TORCH_DTYPES[self.dtype]).numpy()

    def run(self, manifest: pd.DataFrame, root: Path, out: Path, extra_meta: dict[str, Any] | None = None) -> ShardResult:
        """Write the spectrograms of every usable clip of ``manifest`` to ``out``.

        Clips are processed in parallel on ``threads`` worker threads, each clip in one
        thread; torch's own thread count should then be 1 (``run_shard`` sets it).
        """
        t0 = time.perf_counter()
        result = ShardResult(n_clips=len(manifest))
        schema = mel_schema(self.frontend, self.excerpts, self.dtype, extra_meta)
        rows = list(manifest.itertuples(index=False))
        with atomic_path(out) as tmp, ThreadPoolExecutor(max_workers=max(self.threads, 1)) as pool:
            writer = open_writer(tmp, schema, self.compression)
            batches = [rows[i : i + self.batch_size] for i in range(0, len(rows), self.batch_size)]
            pending = [pool.submit(self._clip, root, r) for r in batches[0]] if batches else []
            try:
                for k, batch in enumerate(batches):
                    # Compute the next batch while this one is written.
                    futures = pending
                    if k + 1 < len(batches):
                        pending = [pool.submit(self._clip, root, r) for r in batches[k + 1]]
                    ids, index, mels = [], [], []
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
                        mels.append(parts)
                    if mels:
                        table = pa.table(
                            [
                                pa.array(ids, pa.string()),
                                pa.array(index, pa.int16()),
                                mel_column(np.concatenate(mels), self.dtype),
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
    torch.set_num_threads(1)  # the job's threads work on clips in parallel (MelExtractor.run)
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
