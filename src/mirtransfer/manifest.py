"""Dataset manifests: one row per clip, sorted by a stable ``clip_id``.

A manifest names each clip's audio file (relative to the dataset root), an
optional segment (start/end seconds), its labels (multi-label ``tags``, a class
``label``, or regression targets as float columns) and its ``split`` or ``fold``.
Every later table (spectrograms, features, scores) lines up with it by clip_id.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mirtransfer.audio import SUPPORTED_SUFFIXES
from mirtransfer.files import atomic_path

BASE_COLUMNS = ["clip_id", "path", "start", "end", "label", "tags", "split", "fold"]
_METADATA_KEY = b"mirtransfer.manifest"


class ManifestError(ValueError):
    """A dataset's layout or label table is not what its type expects."""


def _audio_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES)


def _clip_id(relpath: str) -> str:
    """A stable id from a relative path: the path without its extension."""
    return str(PurePosixPath(relpath).with_suffix(""))


def folder_per_class(root: Path, classes: list[str] | None = None, **_: Any) -> pd.DataFrame:
    """One sub-folder per class, audio files anywhere below it.

    classes: the expected class folders (also their label order); default: every sub-folder.
    """
    found = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if classes is None:
        classes = found
    missing = [c for c in classes if c not in found]
    if missing:
        raise ManifestError(f"{root}: class folders {missing} are missing (found {found}); fix the root or 'classes' in the config")
    rows = []
    for cls in classes:
        files = _audio_files(root / cls)
        if not files:
            raise ManifestError(f"{root / cls}: class folder holds no audio file ({', '.join(SUPPORTED_SUFFIXES)})")
        for f in files:
            rel = f.relative_to(root).as_posix()
            rows.append({"clip_id": _clip_id(rel), "path": rel, "label": cls})
    return pd.DataFrame(rows)


def csv_table(
    root: Path,
    table: str,
    columns: dict[str, str] | None = None,
    targets: list[str] | None = None,
    tag_separator: str = ";",
    **_: Any,
) -> pd.DataFrame:
    """A table (csv, or tsv by suffix) naming each clip's path and labels.

    columns maps manifest fields (path, id, label, tags, split, fold, start, end)
    to the table's column names; targets names float regression columns.
    """
    columns = {"path": "path", **(columns or {})}
    targets = targets or []
    table_path = root / table
    if not table_path.is_file():
        raise ManifestError(f"{table_path}: label table not found; set 'table' (relative to the root) in the dataset's config")
    sep = "\t" if table_path.suffix.lower() in (".tsv", ".tab") else ","
    try:
        raw = pd.read_csv(table_path, sep=sep, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise ManifestError(f"{table_path}: cannot be read as a table ({err})") from err
    wanted = {**{k: v for k, v in columns.items()}, **{t: t for t in targets}}
    absent = [f"{v} (for {k})" for k, v in wanted.items() if v not in raw.columns]
    if absent:
        raise ManifestError(f"{table_path}: columns {absent} not found; the table has {list(raw.columns)}; fix 'columns' in the config")
    df = pd.DataFrame({"path": raw[columns["path"]].str.strip()})
    if (df["path"] == "").any():
        raise ManifestError(f"{table_path}: row {int(np.argmax(df['path'] == '')) + 2} has an empty path")
    df["clip_id"] = raw[columns["id"]].str.strip() if "id" in columns else df["path"].map(_clip_id)
    for field in ("label", "split"):
        if field in columns:
            df[field] = raw[columns[field]].str.strip()
            empty = df[field] == ""
            if empty.any():
                raise ManifestError(f"{table_path}: {int(empty.sum())} rows have no {field} (first: row {int(np.argmax(empty)) + 2}); fill them or drop the rows")
    if "tags" in columns:
        df["tags"] = [[t.strip() for t in s.split(tag_separator) if t.strip()] for s in raw[columns["tags"]]]
    for field in ("fold", "start", "end"):
        if field in columns:
            df[field] = _numbers(raw[columns[field]], table_path, columns[field], integer=field == "fold")
    for target in targets:
        df[target] = _numbers(raw[target], table_path, target, integer=False)
    return df


def _numbers(values: pd.Series, table_path: Path, column: str, *, integer: bool) -> pd.Series:
    numbers = pd.to_numeric(values.str.strip(), errors="coerce")
    bad = numbers.isna() | ~np.isfinite(numbers)
    if bad.any():
        row = int(np.argmax(bad.to_numpy()))
        raise ManifestError(f"{table_path}: column {column!r} row {row + 2} holds {values.iloc[row]!r}, not a number")
    if integer:
        if (numbers != numbers.round()).any():
            raise ManifestError(f"{table_path}: column {column!r} must hold whole numbers (fold indices)")
        return numbers.astype("int64")
    return numbers.astype("float64")


BUILDERS: dict[str, Callable[..., pd.DataFrame]] = {
    "folder_per_class": folder_per_class,
    "csv": csv_table,
}


def build_manifest(name: str, spec: dict[str, Any]) -> pd.DataFrame:
    """Build the manifest of dataset ``name`` from its config entry (type, root, options)."""
    kind = spec["type"]
    if kind not in BUILDERS:
        raise ManifestError(f"dataset {name!r}: unknown type {kind!r}; known types: {sorted(BUILDERS)}")
    root = Path(spec["root"])
    if not root.is_dir():
        raise ManifestError(f"dataset {name!r}: root folder {root} does not exist; set datasets.{name}.root in the config")
    options = {k: v for k, v in spec.items() if k not in ("type", "root", "n_shards")}
    return finalize(BUILDERS[kind](root, **options), name)


def finalize(df: pd.DataFrame, name: str) -> pd.DataFrame:
    """Check a builder's table, give it every base column and sort it by clip_id."""
    if df.empty:
        raise ManifestError(f"dataset {name!r}: no clips found")
    dup = df["clip_id"][df["clip_id"].duplicated()]
    if not dup.empty:
        raise ManifestError(f"dataset {name!r}: clip_id {dup.iloc[0]!r} occurs more than once ({len(dup)} duplicates); give segments distinct ids")
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
