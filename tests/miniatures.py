"""Miniatures of the paper's datasets in their official layouts.

Each function writes a tiny copy of one dataset under a root folder: real file and
folder names (rows of the authors' tables in ../shared/choi2017/data_csv where the
dataset is a target), real metadata formats, and short synthesised audio. The
returned table holds the authors' rows that the miniature contains.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from conftest import CHOI2017, shared_file, write_tone
from mirtransfer.choi2017 import MSD_TOP50

SECONDS = 0.4  # the manifests read no audio; the files only have to be real audio
RATE = 8000
URBANSOUND_CLASSES = ["air_conditioner", "car_horn", "children_playing", "dog_bark", "drilling",
                      "engine_idling", "gun_shot", "jackhammer", "siren", "street_music"]
MTAT_TAGS = ["guitar", "classical", "slow", "techno", "strings", "drums", "electronic", "rock"]


def paper_table(name: str) -> pd.DataFrame:
    """The authors' table of one target dataset (fails in CI when it is missing)."""
    return pd.read_csv(shared_file(CHOI2017 / "data_csv" / f"{name}.csv"), index_col=0)


def _first_per(table: pd.DataFrame, column: str, n: int) -> pd.DataFrame:
    return table.groupby(column, sort=False).head(n)


def _audio(path: Path, seconds: float = SECONDS) -> None:
    write_tone(path, seconds, RATE, freq=200.0 + 10 * (len(path.name) % 40))


def _files_per_class(table: str, root: Path, prefix: str, per_class: int) -> pd.DataFrame:
    """The first rows of each label of an authors' table, written under root without ``prefix``."""
    rows = _first_per(paper_table(table), "label", per_class)
    for path in rows["filepath"]:
        _audio(root / Path(path).relative_to(prefix))
    return rows


def ballroom_extended(root: Path, per_class: int = 2) -> pd.DataFrame:
    """``<root>/<Class>/<id>.mp3`` (root: ballroom_extended_2016)."""
    return _files_per_class("ballroom_extended", root, "ballroom_extended_2016", per_class)


def gtzan_genre(root: Path, per_class: int = 2) -> pd.DataFrame:
    """``<root>/genres/<genre>/<genre>.000NN.au``."""
    return _files_per_class("gtzan_genre", root, "gtzan_genre", per_class)


def gtzan_speech_music(root: Path, per_class: int = 3) -> pd.DataFrame:
    """``<root>/music_wav/*.wav`` and ``<root>/speech_wav/*.wav`` (root: music_speech)."""
    return _files_per_class("gtzan_speechmusic", root, "gtzan_music_speech/music_speech", per_class)


def emomusic(root: Path, n: int = 6) -> pd.DataFrame:
    """``<root>/clips_45seconds/<song_id>.mp3`` and ``annotations/static_annotations.csv``.

    One more clip (song 1) has audio but no annotation, as in the real dataset.
    """
    rows = paper_table("emoMusic").head(n)
    for path in rows["filepath"]:
        _audio(root / Path(path).relative_to("emoMusic45s"))
    _audio(root / "clips_45seconds" / "1.mp3")
    table = pd.DataFrame({
        "song_id": rows["id"],
        "mean_arousal": rows["label_arousal"] * 9, "std_arousal": 0.9,
        "mean_valence": rows["label_valence"] * 9, "std_valence": 0.8,
    })
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    table.to_csv(root / "annotations" / "static_annotations.csv", index=False, sep=",", float_format="%.12g")
    return rows


# Track names that the authors' table cuts (``rstrip('.lab')``): its id -> the file's name.
JAMENDO_CUT_TRACKS = {"01 - Aur": "01 - Aura", "05 - Cecili": "05 - Cecilia"}


def jamendo_vocal(root: Path, tracks_per_split: int = 2, max_segments: int = 4) -> pd.DataFrame:
    """Full tracks ``<root>/{train,valid,test}/<track>.ogg`` and ``<root>/jamendo_lab/<track>.lab``.

    Each track's first segments of the authors' table become .lab lines of 0.5 s. Two of
    the first tracks (train, valid) are among those whose names the authors' ids cut, and
    take their full names; a macOS ``._<track>.ogg`` beside each track is no audio.
    """
    table = paper_table("jamendo_vd")
    table["track"] = table["id"].str.rsplit("_", n=1).str[0]
    kept = []
    for split in ("train", "valid", "test"):
        tracks = table[table["category"] == split]["track"].drop_duplicates().head(tracks_per_split)
        for track in tracks:
            segments = table[table["track"] == track].head(max_segments)
            lines = [f"{k * 0.5:.3f} {(k + 1) * 0.5:.3f} {'sing' if label else 'nosing'}"
                     for k, label in enumerate(segments["label"])]
            track = JAMENDO_CUT_TRACKS.get(track, track)
            _audio(root / split / f"{track}.ogg", 0.5 * len(segments) + 0.2)
            (root / split / f"._{track}.ogg").write_bytes(b"\x00\x05\x16\x07" + bytes(60))
            lab = root / "jamendo_lab" / f"{track}.lab"
            lab.parent.mkdir(parents=True, exist_ok=True)
            lab.write_text("\n".join(lines) + "\n")
            kept.append(segments)
    return pd.concat(kept)


def urbansound8k(root: Path, per_fold: int = 2) -> pd.DataFrame:
    """``<root>/audio/fold<k>/<slice>.wav`` and ``<root>/metadata/UrbanSound8K.csv``."""
    rows = _first_per(paper_table("urbansound"), "fold", per_fold)
    meta = []
    for row in rows.itertuples():
        name = Path(row.filepath).name
        _audio(root / "audio" / f"fold{row.fold}" / name)
        meta.append({"slice_file_name": name, "fsID": name.split("-")[0], "start": 0.0, "end": SECONDS,
                     "salience": 1, "fold": row.fold, "classID": row.label, "class": URBANSOUND_CLASSES[row.label]})
    (root / "metadata").mkdir(parents=True, exist_ok=True)
    pd.DataFrame(meta).to_csv(root / "metadata" / "UrbanSound8K.csv", index=False)
    return rows


def magnatagatune(root: Path, per_folder: int = 1) -> pd.DataFrame:
    """``annotations_final.csv`` (tab-separated: clip_id, tag columns, mp3_path) and folders 0-9, a-f."""
    rng = np.random.default_rng(0)
    rows = []
    for k, folder in enumerate("0123456789abcdef"):
        for j in range(per_folder):
            path = f"{folder}/artist_{folder}-album_{j}-0{j + 1}-track_{j}-0-29.mp3"
            _audio(root / path)
            tags = {t: int(rng.random() < 0.4 + 0.05 * i) for i, t in enumerate(MTAT_TAGS)}
            rows.append({"clip_id": 100 * k + j, **tags, "mp3_path": path})
    table = pd.DataFrame(rows)
    table.to_csv(root / "annotations_final.csv", sep="\t", index=False)
    return table


def msd(root: Path, split_dir: Path, per_split: int = 2) -> pd.DataFrame:
    """Previews ``<root>/<d>/<d>/<7digital id>.clip.mp3`` and MSD_split_for_tagging's list files."""
    split_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for s, split in enumerate(("train", "valid", "test")):
        ids, names = [], []
        y = np.zeros((per_split, len(MSD_TOP50)), dtype=np.int8)
        for k in range(per_split):
            digital = f"{3 + s}{6 + k}12242{s}{k}"
            ids.append(f"TRAAAA{s}{k}128F9{s}{k}A{k}")
            names.append(f"{digital[0]}/{digital[1]}/{digital}.npy")
            y[k, [s, 10 + k, 20 + s + k]] = 1
            _audio(root / f"{digital[0]}/{digital[1]}/{digital}.clip.mp3")
            rows.append({"msd_id": ids[-1], "split": split, "tags": [MSD_TOP50[i] for i in np.flatnonzero(y[k])]})
        (split_dir / f"{split}_x_msd_id.txt").write_text("\n".join(ids) + "\n")
        (split_dir / f"{split}_x_filename.txt").write_text("\n".join(names) + "\n")
        np.save(split_dir / f"{split}_y.npy", y)
    return pd.DataFrame(rows)


def all_paper_datasets(base: Path) -> dict[str, Path]:
    """Every dataset of config/paper.yaml under ``base``; returns the config key -> root."""
    roots = {
        "magnatagatune": base / "magnatagatune",
        "msd": base / "msd" / "audio",
        "ballroom_extended": base / "ballroom_extended_2016",
        "gtzan_genre": base / "gtzan_genre",
        "gtzan_speech_music": base / "music_speech",
        "emomusic": base / "emoMusic45s",
        "jamendo_vocal": base / "jamendo",
        "urbansound8k": base / "UrbanSound8K",
    }
    magnatagatune(roots["magnatagatune"])
    msd(roots["msd"], base / "msd" / "MSD_split_for_tagging")
    ballroom_extended(roots["ballroom_extended"], per_class=1)
    gtzan_genre(roots["gtzan_genre"], per_class=1)
    gtzan_speech_music(roots["gtzan_speech_music"], per_class=1)
    emomusic(roots["emomusic"], n=3)
    jamendo_vocal(roots["jamendo_vocal"], max_segments=2)
    urbansound8k(roots["urbansound8k"], per_fold=1)
    return roots
