"""Dataset types: each reads a dataset's layout into manifest rows.

Two generic types (a folder per class, a label table) and the paper's datasets in
their official layouts. Each builder takes the dataset's root folder (and the type's options) and returns the
manifest rows: clip ids, audio paths relative to the root, labels and splits. The
first missing or unexpected file stops it with a ManifestError that names the file.
The README documents each layout; ``EXPECTED_CLIPS`` holds the paper's clip counts.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from mirtransfer.audio import SUPPORTED_SUFFIXES, audio_files_below, is_hidden
from mirtransfer.manifest import ManifestError, finalize

# Clips of the six target datasets in the authors' tables (../shared/choi2017/data_csv).
EXPECTED_CLIPS = {
    "ballroom_extended": 4180,
    "gtzan_genre": 1000,
    "gtzan_speech_music": 128,
    "emomusic": 744,
    "jamendo_vocal": 4086,
    "urbansound8k": 8732,
}
# The authors' label table (data_csv/<name>.csv in their repository) of each paper target
# dataset: its rows are in the order of their released features (data_feats/) and of the
# batches they fed their network.
AUTHORS_TABLES = {
    "ballroom_extended": "ballroom_extended",
    "gtzan_genre": "gtzan_genre",
    "gtzan_speech_music": "gtzan_speechmusic",
    "emomusic": "emoMusic",
    "jamendo_vocal": "jamendo_vd",
    "urbansound8k": "urbansound",
}
# Where a user gets each paper dataset (named when a configured root is missing).
SOURCES = {
    "magnatagatune": "https://mirg.city.ac.uk/codeapps/the-magnatagatune-dataset (mp3.zip.001-003, annotations_final.csv)",
    "msd": "7digital previews of the Million Song Dataset (not public: ask a lab that holds them); "
           "split lists: https://github.com/keunwoochoi/MSD_split_for_tagging",
    "ballroom_extended": "http://anasynth.ircam.fr/home/media/ExtendedBallroom (extendedballroom_v1.1.zip)",
    "gtzan_genre": "http://marsyas.info/downloads/datasets.html (genres.tar.gz)",
    "gtzan_speech_music": "http://marsyas.info/downloads/datasets.html (music_speech.tar.gz)",
    "emomusic": "https://cvml.unige.ch/databases/emoMusic/ (clips_45sec_mp3.zip, annotations.zip)",
    "jamendo_vocal": "https://zenodo.org/record/2585988 (Jamendo corpus: audio and .lab files)",
    "urbansound8k": "https://urbansounddataset.weebly.com/urbansound8k.html (UrbanSound8K.tar.gz)",
}
# What the root of each paper dataset holds at its top (checked at DAG time).
LAYOUTS: dict[str, list[str]] = {
    "magnatagatune": ["annotations_final.csv"],
    "ballroom_extended": ["Chacha", "Waltz"],
    "gtzan_genre": ["genres"],
    "gtzan_speech_music": ["music_wav", "speech_wav"],
    "emomusic": ["clips_45seconds"],
    "jamendo_vocal": ["train", "valid", "test"],
    "urbansound8k": ["metadata/UrbanSound8K.csv", "audio"],
}
# Class folders of Extended Ballroom in the paper's label order (label k = k-th name).
BALLROOM_CLASSES = ["Chacha", "Foxtrot", "Jive", "Pasodoble", "Rumba", "Salsa", "Samba", "Slowwaltz", "Tango",
                    "Viennesewaltz", "Waltz", "Wcswing", "Quickstep"]
GTZAN_GENRES = ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock"]
# MagnaTagATune's standard split by the first character of the mp3 sub-folder.
MTAT_SPLIT = {**{c: "train" for c in "0123456789ab"}, "c": "valid", **{c: "test" for c in "def"}}
SPLITS = ("train", "valid", "test")
# The fault-filtered GTZAN split's file lists (data/gtzan_fault_filtered/README.md).
FAULT_FILTERED = Path(__file__).parent / "data" / "gtzan_fault_filtered"


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
        files = audio_files_below(root / cls)
        if not files:
            raise ManifestError(f"{root / cls}: class folder holds no audio file ({', '.join(SUPPORTED_SUFFIXES)})")
        for f in files:
            rel = f.relative_to(root).as_posix()
            rows.append({"clip_id": _clip_id(rel), "path": rel, "label": cls})
    df = pd.DataFrame(rows)
    same = df[df["clip_id"].duplicated(keep=False)]
    if not same.empty:
        first = same[same["clip_id"] == same["clip_id"].iloc[0]]["path"].tolist()
        raise ManifestError(f"{root}: {' and '.join(first)} are one clip ({same['clip_id'].iloc[0]!r}) in two files "
                            f"({same['clip_id'].nunique()} such clips); keep one of each (remove or rename the other)")
    return df


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
        raise ManifestError(f"{table_path}: cannot be read as a table ({err}); save it as UTF-8 text, comma-separated "
                            "(tab-separated with a .tsv suffix)") from err
    wanted = {**{k: v for k, v in columns.items()}, **{t: t for t in targets}}
    absent = [f"{v} (for {k})" for k, v in wanted.items() if v not in raw.columns]
    if absent:
        raise ManifestError(f"{table_path}: columns {absent} not found; the table has {list(raw.columns)}; fix 'columns' in the config")
    df = pd.DataFrame({"path": raw[columns["path"]].str.strip()})
    if (df["path"] == "").any():
        raise ManifestError(f"{table_path}: row {int(np.argmax(df['path'] == '')) + 2} has an empty path; fill it or drop "
                            "the row")
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
            raise ManifestError(f"{table_path}: column {column!r} must hold whole numbers")
        return numbers.astype("int64")
    return numbers.astype("float64")


def _filled(raw: pd.DataFrame, columns: list[str], table_path: Path) -> None:
    """Stop at the first empty cell of ``columns`` (a table read as strings without NA parsing)."""
    for column in columns:
        empty = raw[column].str.strip() == ""
        if empty.any():
            raise ManifestError(f"{table_path}: column {column!r} row {int(np.argmax(empty.to_numpy())) + 2} is empty "
                                f"({int(empty.sum())} such rows); fill them or drop the rows")


def _require(path: Path, what: str, fix: str) -> Path:
    if not path.exists():
        raise ManifestError(f"{path}: {what} not found; {fix}")
    return path


def _missing_audio(root: Path, paths: pd.Series, fix: str) -> None:
    for rel in paths:
        if not (root / rel).is_file():
            raise ManifestError(f"{root / rel}: audio file listed in the metadata is missing; {fix}")


def _list_key(entry: str) -> str:
    """A split list entry's clip key: its file name without folders and without an audio (or
    .npy, .clip) suffix; a name without one (torchaudio's ``blues.00029``) is kept whole."""
    name = PurePosixPath(entry.strip().split("\t")[-1]).name
    for suffix in (".npy", *SUPPORTED_SUFFIXES):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    return name.removesuffix(".clip")


def _split_lists(split_files: dict[str, str], root: Path, keys: pd.Series) -> pd.Series:
    """Each clip's split (None where no list names it), from one list per split.

    keys: each clip's key (its file name without folders and extension). A list is a text
    file (one path per line, optionally ``index<TAB>path``) or a .npy array of such strings
    or of (index, path) rows, as published with the cleaned MagnaTagATune split. Relative
    list paths are taken from the root. A list that names none of the clips is refused.
    """
    key_split = {}
    for split, name in split_files.items():
        if split not in SPLITS:
            raise ManifestError(f"split_files: {split!r} is not one of {SPLITS}")
        path = _require(Path(name) if Path(name).is_absolute() else root / name, f"{split} list", "set split_files in the config")
        if path.suffix == ".npy":
            array = _load_list(path)
            entries = [str(row[-1]) if np.ndim(row) else str(row) for row in array]
        else:
            entries = path.read_text().splitlines()
        listed = {_list_key(entry) for entry in entries if entry.strip()}
        if not listed & set(keys):
            raise ManifestError(f"{path}: none of its {len(listed)} entries names a clip of the dataset (an entry: "
                                f"{next(iter(sorted(listed)), 'none')!r}; a clip: {keys.iloc[0]!r}); the {split} list must "
                                "name the dataset's files")
        key_split.update(dict.fromkeys(listed, split))
    return keys.map(key_split)


def _load_list(path: Path) -> np.ndarray:
    """A .npy list of file names without unpickling (a pickled file could run code)."""
    try:
        return np.load(path, allow_pickle=False)
    except ValueError as err:
        raise ManifestError(
            f"{path}: holds Python objects (pickle), which are not loaded because they can run code; convert it "
            "once, where you trust it, to a plain string array: np.save(path, np.load(path, allow_pickle=True)"
            ".astype(str)), or to a text list with one file per line"
        ) from err


def magnatagatune(root: Path, n_tags: int = 50, split_files: dict[str, str] | None = None, **_: Any) -> pd.DataFrame:
    """MagnaTagATune: ``annotations_final.csv`` (tab-separated, 188 binary tag columns) and the mp3 folders 0-9, a-f.

    Tags: the ``n_tags`` most frequent (the top 50). Split: by sub-folder (0-b train, c valid,
    d-f test), or from ``split_files`` ({train, valid, test}: lists of mp3 paths, e.g. the cleaned split).
    """
    table = _require(root / "annotations_final.csv", "MagnaTagATune annotation table",
                     "the root must hold annotations_final.csv and the folders 0-9, a-f")
    raw = pd.read_csv(table, sep="\t", dtype=str, keep_default_na=False)
    if {"clip_id", "mp3_path"} - set(raw.columns):
        raise ManifestError(f"{table}: columns clip_id and mp3_path not found (is it the tab-separated annotations_final.csv?)")
    _filled(raw, ["mp3_path"], table)
    tags = [c for c in raw.columns if c not in ("clip_id", "mp3_path")]
    values = raw[tags].apply(pd.to_numeric, errors="coerce").to_numpy()
    if not np.isin(values, (0, 1)).all():
        row, col = np.argwhere(~np.isin(values, (0, 1)))[0]
        raise ManifestError(f"{table}: tag {tags[col]!r} of row {row + 2} is {raw[tags[col]].iloc[row]!r}, not 0 or 1")
    values = values.astype(int)
    top = np.argsort(-values.sum(0), kind="stable")[:n_tags]  # tag columns, most frequent first
    df = pd.DataFrame({"clip_id": raw["mp3_path"].str.replace(".mp3", "", regex=False), "path": raw["mp3_path"]})
    df["tags"] = [[tags[i] for i in top if row[i]] for row in values]
    _missing_audio(root, df["path"], "the mp3 folders 0-9 and a-f must sit beside annotations_final.csv")
    if split_files:
        df["split"] = _split_lists(split_files, root, df["path"].map(lambda p: PurePosixPath(p).stem))
    else:
        first = df["path"].str[0]
        if not first.isin(list(MTAT_SPLIT)).all():
            bad = df["path"][~first.isin(list(MTAT_SPLIT))].iloc[0]
            raise ManifestError(f"{table}: mp3_path {bad!r} is not in a folder 0-9 or a-f; use the official "
                                "annotations_final.csv, or give split_files")
        df["split"] = first.map(MTAT_SPLIT)
    return df


def msd(root: Path, split_dir: str, audio_suffix: str = ".clip.mp3", **_: Any) -> pd.DataFrame:
    """Million Song Dataset previews with the first author's tagging split (MSD_split_for_tagging).

    split_dir holds ``{train,valid,test}_x_msd_id.txt``, ``{train,valid,test}_x_filename.txt``
    (e.g. ``3/6/36122424.npy``: the preview's path, the suffix replaced by ``audio_suffix``)
    and ``{train,valid,test}_y.npy`` (top-50 tags, in the order of mirtransfer.choi2017.MSD_TOP50).
    """
    from mirtransfer.choi2017 import MSD_TOP50

    folder = _require(Path(split_dir), "MSD split folder", "set split_dir to a checkout of MSD_split_for_tagging")
    frames = []
    for split in SPLITS:
        ids = _require(folder / f"{split}_x_msd_id.txt", "track id list", "use MSD_split_for_tagging's files").read_text().split()
        names = _require(folder / f"{split}_x_filename.txt", "file name list", "use MSD_split_for_tagging's files").read_text().split()
        y = np.load(_require(folder / f"{split}_y.npy", "tag matrix", "use MSD_split_for_tagging's files"))
        if not len(ids) == len(names) == len(y) or y.shape[1] != len(MSD_TOP50):
            raise ManifestError(f"{folder}: {split} lists disagree: {len(ids)} ids, {len(names)} file names, tag matrix "
                                f"{y.shape}; use the files of one MSD_split_for_tagging checkout")
        paths = [str(Path(n).with_suffix("")) + audio_suffix for n in names]
        frames.append(pd.DataFrame({"clip_id": ids, "path": paths, "split": split,
                                    "tags": [[MSD_TOP50[j] for j in np.flatnonzero(row)] for row in y]}))
    df = pd.concat(frames, ignore_index=True)
    _missing_audio(root, df["path"].iloc[[0, len(df) // 2, len(df) - 1]], "the previews must lie under the root by file name")
    return df


def ballroom_extended(root: Path, **_: Any) -> pd.DataFrame:
    """Extended Ballroom: 13 class folders of mp3 files, labelled in the paper's order."""
    return folder_per_class(root, classes=BALLROOM_CLASSES)


def gtzan_genre(root: Path, split_files: dict[str, str] | None = None, split: str = "none", **_: Any) -> pd.DataFrame:
    """GTZAN genre: ``genres/<genre>/<genre>.000NN.au`` (root: the folder holding ``genres/``).

    split 'fault_filtered' adds the fault-filtered split (Kereliuk, Sturm and Larsen 2015:
    443 train, 197 valid, 290 test; the lists ship with the package), or split_files
    ({train, valid, test}: lists of file names) another; clips a split leaves out get none.
    """
    if split == "fault_filtered":
        split_files = {s: str(FAULT_FILTERED / f"{s}.txt") for s in SPLITS}
    elif split != "none":
        raise ManifestError(f"gtzan_genre split {split!r}: use 'fault_filtered' or 'none' (or split_files)")
    genres = _require(root / "genres", "GTZAN folder 'genres'", "the root must hold genres/<genre>/*.au")
    df = folder_per_class(genres, classes=GTZAN_GENRES)
    df["path"] = "genres/" + df["path"]
    df["clip_id"] = df["path"].map(lambda p: Path(p).stem)
    if split_files:
        df["split"] = _split_lists(split_files, root, df["clip_id"])
    return df


def gtzan_speech_music(root: Path, **_: Any) -> pd.DataFrame:
    """GTZAN music/speech: ``music_wav/`` (label music) and ``speech_wav/`` (label speech), 64 files each."""
    df = folder_per_class(root, classes=["music_wav", "speech_wav"])
    df["label"] = df["label"].str.removesuffix("_wav")
    return df


def emomusic(root: Path, annotations: str = "annotations/static_annotations.csv", **_: Any) -> pd.DataFrame:
    """emoMusic: ``clips_45seconds/<song_id>.mp3`` and the static annotations.

    Targets arousal and valence: the mean ratings divided by 9 (the paper). Songs
    without a static annotation are dropped.
    """
    clips = _require(root / "clips_45seconds", "emoMusic clip folder", "the root must hold clips_45seconds/ and annotations/")
    table = _require(root / annotations, "emoMusic static annotations", "set 'annotations' (relative to the root)")
    raw = pd.read_csv(table, skipinitialspace=True, dtype=str, keep_default_na=False)
    raw.columns = raw.columns.str.strip()
    if {"song_id", "mean_arousal", "mean_valence"} - set(raw.columns):
        raise ManifestError(f"{table}: columns song_id, mean_arousal, mean_valence not found (found {list(raw.columns)}); "
                            "use emoMusic's static_annotations.csv, or set 'annotations'")
    song = _numbers(raw["song_id"], table, "song_id", integer=True)
    files = {int(p.stem): p.relative_to(root).as_posix() for p in audio_files_below(clips) if p.stem.isdigit()}
    missing = sorted(set(song) - set(files))
    if missing:
        raise ManifestError(f"{clips / f'{missing[0]}.mp3'}: annotated song has no audio ({len(missing)} missing)")
    return pd.DataFrame({
        "clip_id": song.map(lambda i: f"{i:04d}"),
        "path": song.map(files),
        "arousal": _numbers(raw["mean_arousal"], table, "mean_arousal", integer=False) / 9.0,
        "valence": _numbers(raw["mean_valence"], table, "mean_valence", integer=False) / 9.0,
    })


_LAB = re.compile(r"^\s*(?P<start>[0-9.]+)\s+(?P<end>[0-9.]+)\s+(?P<label>sing|nosing)\s*$")


def _lab_files(root: Path) -> list[Path]:
    """Jamendo's .lab files anywhere under the root (sorted), hidden ones (``._x.lab``) left out."""
    return sorted(p for p in root.rglob("*.lab") if not is_hidden(p, root))


def jamendo_vocal(root: Path, **_: Any) -> pd.DataFrame:
    """Jamendo vocal detection: full tracks in ``train/``, ``valid/``, ``test/`` and ``<track>.lab`` files.

    Each .lab line is ``start end sing|nosing``; every line becomes one clip ``<track>_<k>``,
    a segment of the track (start/end), not a new file. Label: sing or nosing.
    """
    labs = {p.stem: p for p in _lab_files(root)}
    if not labs:
        raise ManifestError(f"{root}: no .lab file found; the root must hold the label files and train/, valid/, test/")
    rows = []
    for split in SPLITS:
        folder = _require(root / split, f"Jamendo {split} folder", "the root must hold train/, valid/ and test/")
        for audio in audio_files_below(folder):
            lab = labs.get(audio.stem)
            if lab is None:
                raise ManifestError(f"{audio}: no {audio.stem}.lab label file under {root}")
            for k, line in enumerate(l for l in lab.read_text().splitlines() if l.strip()):
                m = _LAB.match(line)
                if not m:
                    raise ManifestError(f"{lab}: line {k + 1} {line!r} is not 'start end sing|nosing'")
                rows.append({"clip_id": f"{audio.stem}_{k}", "path": audio.relative_to(root).as_posix(),
                             "start": float(m["start"]), "end": float(m["end"]), "label": m["label"], "split": split})
    if not rows:
        raise ManifestError(f"{root}: no audio in train/, valid/ or test/; put each split's tracks in its folder")
    return pd.DataFrame(rows)


def urbansound8k(root: Path, **_: Any) -> pd.DataFrame:
    """UrbanSound8K: ``metadata/UrbanSound8K.csv`` and ``audio/fold<k>/``; the official 10 folds."""
    table = _require(root / "metadata" / "UrbanSound8K.csv", "UrbanSound8K metadata", "the root must hold metadata/ and audio/")
    raw = pd.read_csv(table, dtype=str, keep_default_na=False)
    if {"slice_file_name", "fold", "classID", "class"} - set(raw.columns):
        raise ManifestError(f"{table}: columns slice_file_name, fold, classID, class not found (found "
                            f"{list(raw.columns)}); use the official metadata/UrbanSound8K.csv")
    _filled(raw, ["slice_file_name", "class"], table)
    fold = _numbers(raw["fold"], table, "fold", integer=True)
    df = pd.DataFrame({
        "clip_id": raw["slice_file_name"].str.rsplit(".", n=1).str[0],
        "path": "audio/fold" + fold.astype(str) + "/" + raw["slice_file_name"],
        "label": raw["class"],
        "fold": fold,
    })
    _missing_audio(root, df["path"], "audio/fold1..fold10 must hold the files named in the metadata")
    return df


BUILDERS: dict[str, Callable[..., pd.DataFrame]] = {
    "folder_per_class": folder_per_class,
    "csv": csv_table,
    "magnatagatune": magnatagatune,
    "msd": msd,
    "ballroom_extended": ballroom_extended,
    "gtzan_genre": gtzan_genre,
    "gtzan_speech_music": gtzan_speech_music,
    "emomusic": emomusic,
    "jamendo_vocal": jamendo_vocal,
    "urbansound8k": urbansound8k,
}


def source_problems(name: str, spec: dict[str, Any]) -> list[str]:
    """Why a dataset cannot train a model, from its config entry alone: a source needs tags and
    a train/valid/test split (msd and magnatagatune have both; a csv table names their columns)."""
    if spec["type"] in ("msd", "magnatagatune"):
        return []
    if spec["type"] == "csv":
        missing = [c for c in ("tags", "split") if c not in spec.get("columns", {})]
        return [f"datasets.{name}.columns has no {' or '.join(missing)}: a source dataset needs tags and a "
                "train/valid/test split; name their columns"] if missing else []
    return [f"datasets.{name} (type {spec['type']}) has no tags: a source dataset is of type msd, magnatagatune, "
            "or csv with columns tags and split"]


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


def label_files(spec: dict[str, Any]) -> list[str]:
    """The files besides the root folder that a dataset's manifest is built from (label tables,
    annotations, split lists), those that exist: inputs of its manifest job, so an edited one
    rebuilds it. Audio added inside class folders does not change the root's time: force it."""
    root, kind = Path(spec["root"]), spec["type"]
    files = {
        "csv": [root / spec.get("table", "")],
        "magnatagatune": [root / "annotations_final.csv"],
        "msd": [Path(spec.get("split_dir", "")) / f"{s}_{k}" for s in SPLITS
                for k in ("x_msd_id.txt", "x_filename.txt", "y.npy")],
        "emomusic": [root / spec.get("annotations", "annotations/static_annotations.csv")],
        "jamendo_vocal": _lab_files(root) if root.is_dir() else [],
        "urbansound8k": [root / "metadata" / "UrbanSound8K.csv"],
    }.get(kind, [])
    files += [Path(f) if Path(f).is_absolute() else root / f for f in (spec.get("split_files") or {}).values()]
    return [str(f) for f in files if f.is_file()]


def missing_data(name: str, spec: dict[str, Any]) -> str | None:
    """What is missing for a configured dataset (its root, the MSD split folder, or the top
    entries of its type's layout) and where to get it; None when they exist. Cheap enough
    for a dry run: only the paths and the root's top entries are looked at."""
    paths = {key: spec[key] for key in ("root", "split_dir") if key in spec}
    absent = [f"{key} {path}" for key, path in paths.items() if not Path(path).exists()]
    where = SOURCES.get(spec["type"], "your own copy")
    if absent:
        return f"datasets.{name} ({spec['type']}): {', '.join(absent)} not found; get it from {where}"
    root = Path(spec["root"])
    lacking = [entry for entry in LAYOUTS.get(spec["type"], []) if not (root / entry).exists()]
    if lacking:
        found = sorted(p.name for p in root.iterdir())[:8] if root.is_dir() else []
        return (f"datasets.{name} ({spec['type']}): root {root} does not hold {', '.join(lacking)} (it holds {found}); "
                f"is the root one folder too deep or too high? It must hold {', '.join(LAYOUTS[spec['type']])}")
    named = {"table": spec.get("table"), "annotations": spec.get("annotations"),
             **{f"split_files.{split}": path for split, path in (spec.get("split_files") or {}).items()}}
    absent = [f"{key} {root / path}" for key, path in named.items() if path and not (root / path).is_file()]
    if absent:
        return (f"datasets.{name} ({spec['type']}): {', '.join(absent)} not found; fix the path (relative to the "
                "root, or absolute)")
    return None


def authors_jamendo_id(clip_id: str) -> str:
    """The id the authors' table gives the Jamendo segment ``<track>_<k>``.

    Their table's ids cut every trailing '.', 'l', 'a' and 'b' off the track's name, as
    ``str.rstrip('.lab')`` on the .lab file's name does: '05 - Animal' is '05 - Anim' there,
    '01 - Aura' is '01 - Aur' (8 of the 93 tracks, 331 segments).
    """
    track, k = clip_id.rsplit("_", 1)
    return f"{(track + '.lab').rstrip('.lab')}_{k}"


def authors_clip_ids(kind: str, table: pd.DataFrame, clip_ids: Iterable[str]) -> list[str]:
    """The manifest clip_id of each row of the authors' table of a dataset type, in the table's order.

    The authors' ``filepath`` and ``id`` columns are mapped to the ids this package's
    builder gives the same file or segment; clip_ids (the manifest's) resolve Jamendo's
    ids, which the authors' cut track names do not determine. A row whose clip is not
    among them keeps the authors' id.
    """
    paths = table["filepath"].map(PurePosixPath)
    if kind in ("ballroom_extended", "gtzan_speech_music"):  # .../<Class or music_wav|speech_wav>/<name>.<ext>
        ids = [str(PurePosixPath(*p.parts[-2:]).with_suffix("")) for p in paths]
    elif kind == "gtzan_genre":  # gtzan_genre/genres/<genre>/<genre>.000NN.au
        ids = [p.stem for p in paths]
    elif kind == "emomusic":
        ids = [f"{int(i):04d}" for i in table["id"]]
    elif kind == "jamendo_vocal":  # <track>_<segment>, the track's name cut
        ours: dict[str, str] = {}
        for clip in clip_ids:
            theirs = authors_jamendo_id(clip)
            if theirs in ours:
                raise ManifestError(f"Jamendo segments {ours[theirs]!r} and {clip!r} are both {theirs!r} in the "
                                    "authors' table; rename one track")
            ours[theirs] = clip
        ids = [ours.get(str(i), str(i)) for i in table["id"]]
    elif kind == "urbansound8k":  # <slice name>
        ids = [str(i) for i in table["id"]]
    else:
        raise ValueError(f"dataset type {kind!r} has no authors' table; types with one: {sorted(AUTHORS_TABLES)}")
    return ids


def count_warning(kind: str, n_clips: int) -> str | None:
    """A warning when a copy of a paper dataset has another number of clips than the paper's."""
    expected = EXPECTED_CLIPS.get(kind)
    if expected is None or expected == n_clips:
        return None
    return (f"{kind}: {n_clips} clips, the paper used {expected} ({n_clips - expected:+d}); "
            "scores will not be comparable with the paper's unless the copies match")
