"""Dataset manifests: one row per clip, sorted by a stable ``clip_id``.

A manifest names each clip's audio file (relative to the dataset root), an
optional segment (start/end seconds), its labels (multi-label ``tags``, a class
``label``, or regression targets as float columns) and its ``split`` or ``fold``.
Every later table (spectrograms, features, scores) lines up with it by clip_id.
The builders that read each dataset type's layout live in mirtransfer.datasets.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mirtransfer.errors import TaskError, UserError
from mirtransfer.files import atomic_path
from mirtransfer.folds import task_folds, task_targets

BASE_COLUMNS = ["clip_id", "path", "start", "end", "label", "tags", "split", "fold"]
_METADATA_KEY = b"mirtransfer.manifest"


class ManifestError(UserError, ValueError):
    """A dataset's layout or label table is not what its type expects."""


def finalize(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """Check a builder's table, give it every base column and sort it by clip_id."""
    if df.empty:
        raise ManifestError(f"dataset {name!r}: no clips found")
    dup = df["clip_id"][df["clip_id"].duplicated()]
    if not dup.empty:
        paths = df.loc[df["clip_id"] == dup.iloc[0], "path"].tolist()
        raise ManifestError(f"dataset {name!r}: clip_id {dup.iloc[0]!r} occurs more than once ({len(dup)} duplicates), "
                            f"from {' and '.join(map(repr, paths))}; keep one of each file (remove or rename the "
                            "other), or give segments distinct ids")
    df = df.copy()
    for column in BASE_COLUMNS:
        if column not in df.columns:
            df[column] = None
    if df["start"].notna().any() or df["end"].notna().any():
        bad = df["end"].notna() & df["start"].notna() & (df["end"] <= df["start"])
        if bad.any():
            raise ManifestError(f"dataset {name!r}: clip {df['clip_id'][bad].iloc[0]!r} ends before it starts")
    extra = [c for c in df.columns if c not in BASE_COLUMNS]
    return df[BASE_COLUMNS + sorted(extra)].sort_values("clip_id", kind="stable").reset_index(drop=True)


def check_tasks(df: pd.DataFrame, name: str, tasks: dict[str, dict[str, Any]]) -> None:
    """Each task on the dataset must name a manifest column that holds a value for every clip
    (a number for regression), its protocol's column (fold, split) must be filled, and its
    folds must be possible (enough clips per class, splits not empty): checked before any
    spectrogram. tasks: the config's tasks on this dataset, their defaults filled by the schema."""
    for task, spec in tasks.items():
        target = spec["target"]
        if target not in df.columns or df[target].isna().all():
            usable = [c for c in df.columns if c not in ("clip_id", "path", "start", "end") and df[c].notna().any()]
            raise ManifestError(f"tasks.{task}.target: {target!r} is not a column of dataset {name!r}; its columns "
                                f"with values: {usable}; fix the task's target")
        empty = int(df[target].isna().sum())
        if empty:
            raise ManifestError(f"tasks.{task}: {empty} clips of dataset {name!r} have no {target!r} "
                                f"(first: {df.loc[df[target].isna(), 'clip_id'].iloc[0]!r}); fill them or drop the rows")
        column = {"predefined_folds": "fold", "train_test": "split"}.get(spec["protocol"])
        if column and df[column].isna().all():
            raise ManifestError(f"tasks.{task}: protocol {spec['protocol']} needs the {column!r} column, which dataset "
                                f"{name!r} does not have; use protocol kfold or give the dataset a {column} column")
        try:
            task_folds(task, spec, task_targets(task, spec, df.set_index("clip_id")[target]), df)
        except TaskError as err:
            raise ManifestError(f"dataset {name!r}: {err}") from None


def source_candidates(model: dict[str, Any]) -> list[str]:
    """A trained model's source datasets (its config's ``dataset``: one name or a list), in order of preference."""
    dataset = model["dataset"]
    return [dataset] if isinstance(dataset, str) else list(dataset)


def check_source(df: pd.DataFrame, name: str, models: dict[str, dict[str, Any]]) -> None:
    """A dataset that trains a model (a candidate source of one of ``models``, the config's) needs
    clips in each of train, valid and test: checked before any spectrogram (training would stop
    on it after them)."""
    users = [m for m, spec in models.items() if spec.get("type", "train") == "train" and name in source_candidates(spec)]
    if not users:
        return
    counts = df["split"].value_counts()
    if missing := [s for s in ("train", "valid", "test") if not counts.get(s)]:
        raise ManifestError(f"dataset {name!r}, the source of models.{', models.'.join(users)}, has no clip in split "
                            f"{missing}; its splits: {counts.to_dict()}; give it train, valid and test clips "
                            "(columns.split for a csv)")


def label_kind(df: pd.DataFrame) -> str:
    """'tags', 'class', 'regression' or 'none': what the manifest's labels are."""
    if df["tags"].notna().any():
        return "tags"
    if df["label"].notna().any():
        return "class"
    if len(df.columns) > len(BASE_COLUMNS):
        return "regression"
    return "none"


def _schema(df: pd.DataFrame, metadata: dict[str, Any]) -> pa.Schema:
    fields = [
        pa.field("clip_id", pa.string(), nullable=False),
        pa.field("path", pa.string(), nullable=False),
        pa.field("start", pa.float64()),
        pa.field("end", pa.float64()),
        pa.field("label", pa.string()),
        pa.field("tags", pa.list_(pa.string())),
        pa.field("split", pa.string()),
        pa.field("fold", pa.int64()),
    ]
    fields += [pa.field(c, pa.float64()) for c in df.columns if c not in BASE_COLUMNS]
    return pa.schema(fields, metadata={_METADATA_KEY: json.dumps(metadata, sort_keys=True)})


def write_manifest(df: pd.DataFrame, path: str | Path, metadata: dict[str, Any]) -> None:
    """Write a finalized manifest to Parquet with its metadata (dataset, root, label kind)."""
    metadata = {**metadata, "label_kind": label_kind(df), "n_clips": len(df)}
    table = pa.Table.from_pandas(df, schema=_schema(df, metadata), preserve_index=False)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def read_manifest(path: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a manifest and its metadata."""
    table = pq.read_table(path)
    meta = json.loads(table.schema.metadata[_METADATA_KEY])
    return table.to_pandas(), meta
