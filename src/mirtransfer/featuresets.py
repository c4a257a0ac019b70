"""Feature sets: names like ``convnet:135``, ``random:12345``, ``mfcc`` or ``mfcc+convnet:12345``.

A name is parts joined by ``+``; a part is an extractor with layers (1..5, each
digit one layer) or a single-table extractor (``mfcc``). Columns are concatenated
in the order of the parts, and of the layers within a part (ascending).

The feature tables themselves (one Parquet per layer or per MFCC set: clip_id and float32
columns, the metadata in the schema) are written and read here, without torch, so that
scoring imports only what it needs.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mirtransfer.errors import TaskError, UserError
from mirtransfer.files import atomic_path

METADATA_KEY = b"mirtransfer.features"

_PART = re.compile(r"^(?P<extractor>[A-Za-z0-9_]+)(?::(?P<layers>[1-5]+))?$")


def write_table(clip_ids: list[str], values: np.ndarray, columns: list[str], path: str | Path, metadata: dict[str, Any]) -> None:
    """One feature table: clip_id and one float32 column per value, metadata in the schema."""
    data = {"clip_id": pa.array(clip_ids, pa.string())}
    data.update({name: pa.array(values[:, k].astype(np.float32)) for k, name in enumerate(columns)})
    table = pa.table(data).replace_schema_metadata({METADATA_KEY: json.dumps(metadata, sort_keys=True)})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def write_layers(clip_ids: list[str], layers: list[np.ndarray], paths: list[str | Path], metadata: dict[str, Any]) -> None:
    """One Parquet per layer: clip_id and columns l<layer>_<k>."""
    for layer, (values, path) in enumerate(zip(layers, paths), start=1):
        columns = [f"l{layer}_{k:02d}" for k in range(values.shape[1])]
        write_table(clip_ids, values, columns, path, {**metadata, "layer": layer})


def read_features(path: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A feature table (clip_id column plus values) and its metadata."""
    table = pq.read_table(path)
    return table.to_pandas(), json.loads(table.schema.metadata[METADATA_KEY])


@dataclass(frozen=True)
class Part:
    """One extractor's contribution to a feature set."""

    extractor: str
    layers: tuple[int, ...] = ()



def parse(name: str) -> list[Part]:
    """Parse a feature-set name; raise ValueError naming what is wrong."""
    parts = []
    for text in name.split("+"):
        m = _PART.match(text)
        if not m:
            raise ValueError(f"feature set {name!r}: part {text!r} is not 'mfcc' or '<extractor>:<layers 1-5>'")
        layers = tuple(int(d) for d in m["layers"] or "")
        if len(set(layers)) != len(layers) or list(layers) != sorted(layers):
            raise ValueError(f"feature set {name!r}: layers must be distinct and ascending, e.g. convnet:135")
        parts.append(Part(m["extractor"], layers))
    if len({p.extractor for p in parts}) != len(parts):
        raise ValueError(f"feature set {name!r} names an extractor twice")
    return parts


def layer_combinations() -> list[str]:
    """The 31 non-empty combinations of the five layers: '1', ..., '12345'."""
    return ["".join(map(str, c)) for k in range(1, 6) for c in itertools.combinations(range(1, 6), k)]


def default_sets(convnet_extractors: list[str], trained: str | None, table_extractors: list[str]) -> list[str]:
    """Every layer combination of every convnet extractor, each table extractor, and table+trained:12345."""
    names = [f"{e}:{c}" for e in convnet_extractors for c in layer_combinations()]
    names += table_extractors
    if trained:
        names += [f"{t}+{trained}:12345" for t in table_extractors]
    return names


def load(paths: Sequence[str | Path]) -> tuple[list[str], np.ndarray, list[str]]:
    """Clip ids, the (clips, features) matrix and the column names of a feature set's tables
    (``paths``: parts in order), concatenated column-wise.

    Every table must hold the same clips in the same order; a difference is an error
    that names the tables and the first clip that differs.
    """
    ids: list[str] | None = None
    first: str | Path = ""
    blocks, columns = [], []
    for path in paths:
        if not Path(path).exists():
            raise FileNotFoundError(f"feature table {path} is missing; build it with: snakemake {path}")
        df, _ = read_features(path)
        these = df["clip_id"].tolist()
        if ids is None:
            ids, first = these, path
        elif these != ids:
            diff = next((i for i, (a, b) in enumerate(zip(ids, these)) if a != b), min(len(ids), len(these)))
            raise ValueError(f"feature tables {first} ({len(ids)} rows) and {path} ({len(these)} rows) are not aligned: "
                             f"first difference at row {diff}; rebuild them from the same spectrograms")
        values = df.drop(columns="clip_id")
        block = values.to_numpy(dtype=np.float64)
        bad = ~np.isfinite(block)
        if bad.any():
            row, col = np.argwhere(bad)[0]
            raise UserError(f"feature table {path}: {int(bad.any(axis=1).sum())} clips have NaN or "
                            f"infinite values (first: clip {these[row]!r}, column {values.columns[col]!r}); an SVM "
                            "cannot use them: rebuild the table, and check the model's training log if it diverged")
        blocks.append(block)
        columns += list(values.columns)
    assert ids is not None
    return ids, np.concatenate(blocks, axis=1), columns


def targets(manifest: pd.DataFrame, clip_ids: list[str], target: str) -> np.ndarray:
    """The task's target for each clip id, in that order; a clip missing from the manifest is an error."""
    if target not in manifest.columns:
        raise TaskError(f"target {target!r} is not a manifest column; columns: {list(manifest.columns)}")
    indexed = manifest.set_index("clip_id")
    missing = [c for c in clip_ids if c not in indexed.index]
    if missing:
        raise TaskError(f"{len(missing)} feature rows have no manifest row (first: {missing[0]!r}); rebuild the features")
    values = indexed.loc[clip_ids, target].to_numpy()
    if pd.isna(values).any():
        raise TaskError(f"target {target!r} is empty for {int(pd.isna(values).sum())} clips")
    return values
