"""The paper's dataset types on miniatures of their official layouts.

Each manifest is checked against the authors' table of the same files
(../shared/choi2017/data_csv): same clips, same label coding, same splits;
each type also gets a broken variant that must fail with the file's name.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import miniatures
from mirtransfer.datasets import (BALLROOM_CLASSES, EXPECTED_CLIPS, FAULT_FILTERED, GTZAN_GENRES, authors_clip_ids,
                                  build_manifest, count_warning, label_files, missing_data)
from mirtransfer.manifest import ManifestError, label_kind


def build(kind: str, root: Path, **options) -> pd.DataFrame:
    return build_manifest(kind, {"type": kind, "root": str(root), **options})


def test_ballroom_extended(tmp_path):
    paper = miniatures.ballroom_extended(tmp_path)
    df = build("ballroom_extended", tmp_path)
    assert len(df) == len(paper) == 26
    codes = df.set_index(df["path"].map(lambda p: int(Path(p).stem)))["label"].map(BALLROOM_CLASSES.index)
    assert codes.loc[paper["id"]].tolist() == paper["label"].tolist()
    assert df["path"].str.endswith(".mp3").all() and label_kind(df) == "class"

    (tmp_path / "Quickstep" / Path(paper["filepath"].iloc[-1]).name).unlink()
    (tmp_path / "Quickstep" / Path(paper["filepath"].iloc[-2]).name).unlink()
    with pytest.raises(ManifestError, match="Quickstep: class folder holds no audio"):
        build("ballroom_extended", tmp_path)


def test_gtzan_genre_and_its_filtered_split(tmp_path):
    paper = miniatures.gtzan_genre(tmp_path)
    df = build("gtzan_genre", tmp_path)
    by_path = df.set_index("path")
    paper_paths = paper["filepath"].str.removeprefix("gtzan_genre/")
    assert by_path.loc[paper_paths, "label"].map(GTZAN_GENRES.index).tolist() == paper["label"].tolist()
    assert df["clip_id"].iloc[0] == "blues.00000" and df["split"].isna().all()

    lists = {"train": ["blues.00000.wav", "jazz.00000.wav"], "valid": ["blues.00001.wav"], "test": ["rock.00001.wav"]}
    for split, names in lists.items():
        (tmp_path / f"{split}_filtered.txt").write_text("\n".join(f"{n.split('.')[0]}/{n}" for n in names) + "\n")
    df = build("gtzan_genre", tmp_path, split_files={s: f"{s}_filtered.txt" for s in lists})
    splits = df.set_index("clip_id")["split"]
    assert splits["blues.00000"] == "train" and splits["blues.00001"] == "valid" and splits["rock.00001"] == "test"
    assert splits.isna().sum() == len(df) - 4  # fault-filtered: the rest is left out
    (tmp_path / "test_filtered.txt").write_text("rock.00001\n")  # torchaudio's names, without suffix
    df = build("gtzan_genre", tmp_path, split_files={s: f"{s}_filtered.txt" for s in lists})
    assert df.set_index("clip_id")["split"]["rock.00001"] == "test"
    (tmp_path / "test_filtered.txt").write_text("rock.00099.au\n")
    with pytest.raises(ManifestError, match=r"test_filtered\.txt: none of its 1 entries names a clip"):
        build("gtzan_genre", tmp_path, split_files={s: f"{s}_filtered.txt" for s in lists})

    (tmp_path / "genres" / "metal").rename(tmp_path / "genres" / "heavy")
    with pytest.raises(ManifestError, match=r"class folders \['metal'\] are missing"):
        build("gtzan_genre", tmp_path)


def test_gtzan_speech_music(tmp_path):
    paper = miniatures.gtzan_speech_music(tmp_path)
    df = build("gtzan_speech_music", tmp_path)
    codes = df.set_index(df["path"].map(lambda p: Path(p).stem))["label"].map({"music": 0, "speech": 1})
    assert codes.loc[paper["id"]].tolist() == paper["label"].tolist()

    for f in (tmp_path / "speech_wav").iterdir():
        f.unlink()
    with pytest.raises(ManifestError, match="speech_wav: class folder holds no audio"):
        build("gtzan_speech_music", tmp_path)


def test_emomusic(tmp_path):
    paper = miniatures.emomusic(tmp_path)
    df = build("emomusic", tmp_path)
    assert len(df) == len(paper)  # song 1 has audio but no annotation: dropped
    assert df["clip_id"].tolist() == [f"{i:04d}" for i in paper["id"]]
    np.testing.assert_allclose(df["arousal"], paper["label_arousal"], atol=1e-9)
    np.testing.assert_allclose(df["valence"], paper["label_valence"], atol=1e-9)
    assert label_kind(df) == "regression"

    (tmp_path / "clips_45seconds" / "3.mp3").unlink()
    with pytest.raises(ManifestError, match=r"clips_45seconds/3\.mp3: annotated song has no audio"):
        build("emomusic", tmp_path)


def test_jamendo_vocal_segments(tmp_path):
    paper = miniatures.jamendo_vocal(tmp_path)
    df = build("jamendo_vocal", tmp_path)
    by_id = df.set_index("clip_id")
    ours = authors_clip_ids("jamendo_vocal", paper, df["clip_id"])
    assert sorted(by_id.index) == sorted(ours)
    assert {"01 - Aura_0", "05 - Cecilia_0"} <= set(ours)  # names the authors' ids cut ("01 - Aur_0")
    assert by_id.loc[ours, "label"].map({"nosing": 0, "sing": 1}).tolist() == paper["label"].tolist()
    assert by_id.loc[ours, "split"].tolist() == paper["category"].tolist()
    first = by_id.loc[ours[1]]
    assert (first["start"], first["end"]) == (0.5, 1.0) and first["path"].endswith(".ogg")
    assert df["path"].nunique() == 6  # segments of the full tracks, not new files; no ._<track>.ogg

    lab = next((tmp_path / "jamendo_lab").iterdir())
    lab.write_text("0.0 1.5 singing\n")
    with pytest.raises(ManifestError, match=rf"{lab.name}: line 1 .* is not 'start end sing\|nosing'"):
        build("jamendo_vocal", tmp_path)
    lab.unlink()
    with pytest.raises(ManifestError, match=rf"no {lab.stem}\.lab label file"):
        build("jamendo_vocal", tmp_path)


def test_urbansound8k(tmp_path):
    paper = miniatures.urbansound8k(tmp_path)
    df = build("urbansound8k", tmp_path)
    by_id = df.set_index("clip_id")
    assert by_id.loc[paper["id"], "label"].map(miniatures.URBANSOUND_CLASSES.index).tolist() == paper["label"].tolist()
    assert by_id.loc[paper["id"], "fold"].tolist() == paper["fold"].tolist()
    assert sorted(df["label"].unique()) == sorted(df["label"].unique(), key=miniatures.URBANSOUND_CLASSES.index)

    missing = tmp_path / "audio" / f"fold{paper['fold'].iloc[0]}" / Path(paper["filepath"].iloc[0]).name
    missing.unlink()
    with pytest.raises(ManifestError, match=rf"{missing.name}: audio file listed in the metadata is missing"):
        build("urbansound8k", tmp_path)


def test_magnatagatune_top_tags_and_splits(tmp_path):
    table = miniatures.magnatagatune(tmp_path)
    df = build("magnatagatune", tmp_path, n_tags=3)
    counts = table[miniatures.MTAT_TAGS].sum().sort_values(ascending=False, kind="stable")
    top = set(counts.index[:3])
    assert set().union(*df["tags"]) <= top and label_kind(df) == "tags"
    assert df.groupby("split").size().to_dict() == {"train": 12, "valid": 1, "test": 3}

    # the cleaned split as published: .npy arrays of "index<TAB>path" strings
    paths = table["mp3_path"].tolist()
    for split, part in {"train": paths[:5], "valid": paths[5:7], "test": paths[7:9]}.items():
        np.save(tmp_path / f"{split}.npy", np.array([f"{i}\t{p}" for i, p in enumerate(part)]))
    df = build("magnatagatune", tmp_path, split_files={s: f"{s}.npy" for s in ("train", "valid", "test")})
    assert df["split"].value_counts().to_dict() == {"train": 5, "valid": 2, "test": 2}

    bad = table.astype({"rock": str})
    bad.loc[2, "rock"] = "yes"
    bad.to_csv(tmp_path / "annotations_final.csv", sep="\t", index=False)
    with pytest.raises(ManifestError, match="annotations_final.csv: tag 'rock' of row 4 is 'yes', not 0 or 1"):
        build("magnatagatune", tmp_path)
    table.to_csv(tmp_path / "annotations_final.csv", sep="\t", index=False)

    (tmp_path / paths[3]).unlink()
    with pytest.raises(ManifestError, match=rf"{Path(paths[3]).name}: audio file listed in the metadata is missing"):
        build("magnatagatune", tmp_path)


def test_msd_tagging_split(tmp_path):
    expected = miniatures.msd(tmp_path / "audio", tmp_path / "split")
    df = build("msd", tmp_path / "audio", split_dir=str(tmp_path / "split"))
    by_id = df.set_index("clip_id")
    assert by_id.loc[expected["msd_id"], "split"].tolist() == expected["split"].tolist()
    assert by_id.loc[expected["msd_id"], "tags"].map(list).tolist() == expected["tags"].tolist()
    assert df["path"].str.endswith(".clip.mp3").all()

    (tmp_path / "split" / "valid_x_filename.txt").write_text("3/6/1.npy\n")
    with pytest.raises(ManifestError, match="valid lists disagree: 2 ids, 1 file names"):
        build("msd", tmp_path / "audio", split_dir=str(tmp_path / "split"))
    with pytest.raises(ManifestError, match="MSD split folder not found"):
        build("msd", tmp_path / "audio", split_dir=str(tmp_path / "nowhere"))


def test_count_warning_names_the_difference():
    assert count_warning("gtzan_genre", 1000) is None
    assert count_warning("folder_per_class", 3) is None
    message = count_warning("urbansound8k", 20)
    assert "20 clips, the paper used 8732 (-8712)" in message
    assert set(EXPECTED_CLIPS) == {"ballroom_extended", "gtzan_genre", "gtzan_speech_music", "emomusic",
                                   "jamendo_vocal", "urbansound8k"}


def test_paper_tables_have_the_expected_counts():
    files = {"ballroom_extended": "ballroom_extended", "gtzan_genre": "gtzan_genre",
             "gtzan_speech_music": "gtzan_speechmusic", "emomusic": "emoMusic", "jamendo_vocal": "jamendo_vd",
             "urbansound8k": "urbansound"}
    assert {kind: len(miniatures.paper_table(name)) for kind, name in files.items()} == EXPECTED_CLIPS


def test_gtzan_fault_filtered_split_on_a_miniature_of_its_lists(tmp_path):
    """The shipped lists are torchaudio's (443 / 197 / 290 files); a miniature of files from each
    list, and one from none, gets those splits."""
    from torchaudio.datasets import gtzan as torchaudio_gtzan

    lists = {s: (FAULT_FILTERED / f"{s}.txt").read_text().split() for s in ("train", "valid", "test")}
    assert {s: len(v) for s, v in lists.items()} == {"train": 443, "valid": 197, "test": 290}
    assert lists["train"] == [f"{n}.au" for n in torchaudio_gtzan.filtered_train]
    assert lists["valid"] == [f"{n}.au" for n in torchaudio_gtzan.filtered_valid]
    assert lists["test"] == [f"{n}.au" for n in torchaudio_gtzan.filtered_test]
    listed = {name for names in lists.values() for name in names}
    left_out = next(f"{g}.{i:05d}.au" for g in GTZAN_GENRES for i in range(100) if f"{g}.{i:05d}.au" not in listed)
    chosen = {next(n for n in names if n.startswith(genre)): split for split, names in lists.items() for genre in GTZAN_GENRES}
    for name in [*chosen, left_out]:
        miniatures.write_tone(tmp_path / "genres" / name.split(".")[0] / name, 0.2, 8000)
    df = build("gtzan_genre", tmp_path, split="fault_filtered").set_index("clip_id")
    assert {f"{c}.au": s for c, s in df["split"].dropna().items()} == chosen
    assert pd.isna(df.loc[left_out.removesuffix(".au"), "split"])


class _RunsCode:
    """Unpickling this object would create the file it names."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


def test_split_lists_are_read_without_pickle(tmp_path):
    """A pickled .npy split list is refused with how to convert it, and runs nothing."""
    table = miniatures.magnatagatune(tmp_path)
    paths = table["mp3_path"].tolist()
    marker = tmp_path / "ran"
    np.save(tmp_path / "train.npy", np.array([_RunsCode(marker), paths[0]], dtype=object), allow_pickle=True)
    for split, part in {"valid": paths[5:7], "test": paths[7:9]}.items():
        np.save(tmp_path / f"{split}.npy", np.array(part))
    with pytest.raises(ManifestError, match=r"train.npy: holds Python objects \(pickle\).*astype\(str\)"):
        build("magnatagatune", tmp_path, split_files={s: f"{s}.npy" for s in ("train", "valid", "test")})
    assert not marker.exists()


def test_label_files_are_the_manifest_inputs_that_exist(tmp_path):
    """An edited label table or split list must rebuild the manifest: they are its inputs."""
    (tmp_path / "metadata").mkdir()
    (tmp_path / "metadata" / "UrbanSound8K.csv").write_text("slice_file_name,fold,classID,class\n")
    (tmp_path / "lists").mkdir()
    (tmp_path / "lists" / "train.txt").write_text("a.au\n")
    assert label_files({"type": "urbansound8k", "root": str(tmp_path)}) == [str(tmp_path / "metadata" / "UrbanSound8K.csv")]
    assert label_files({"type": "gtzan_genre", "root": str(tmp_path),
                        "split_files": {"train": "lists/train.txt", "test": "lists/test.txt"}}) == [str(tmp_path / "lists" / "train.txt")]
    assert label_files({"type": "csv", "root": str(tmp_path), "table": "missing.csv"}) == []  # the builder says it is missing
    assert label_files({"type": "folder_per_class", "root": str(tmp_path)}) == []
    for name in ("train_x_msd_id.txt", "train_y.npy"):
        (tmp_path / "lists" / name).write_text("")
    assert label_files({"type": "msd", "root": str(tmp_path), "split_dir": str(tmp_path / "lists")}) == [
        str(tmp_path / "lists" / "train_x_msd_id.txt"), str(tmp_path / "lists" / "train_y.npy")]


def _layout(root: Path, files: dict[str, bytes | str]) -> Path:
    for name, content in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    return root


@pytest.mark.parametrize("kind, files, options, message", [
    ("csv", {"t.csv": b"path,label\n\xff\xfe\x00x,y\n"}, {"table": "t.csv"},
     r"t.csv: cannot be read as a table .*; save it as UTF-8 text"),
    ("csv", {"t.csv": "path,label\na.wav,x\n ,y\n"}, {"table": "t.csv"}, r"t.csv: row 3 has an empty path; fill it or drop"),
    ("csv", {"t.csv": "path,label\n"}, {"table": "t.csv"}, r"^dataset 'csv': no clips found"),
    ("urbansound8k", {"metadata/UrbanSound8K.csv": "file,fold\na.wav,1\n", "audio/fold1/a.wav": ""}, {},
     r"UrbanSound8K.csv: columns slice_file_name, fold, classID, class not found \(found \['file', 'fold'\]\); use the official"),
    ("emomusic", {"annotations/static_annotations.csv": "id,arousal\n2,5\n", "clips_45seconds/2.mp3": ""}, {},
     r"static_annotations.csv: columns song_id, mean_arousal, mean_valence not found .*use emoMusic's"),
    ("urbansound8k", {"metadata/UrbanSound8K.csv": "slice_file_name,fold,classID,class\na.wav,,0,dog_bark\n"}, {},
     r"UrbanSound8K.csv: column 'fold' row 2 holds '', not a number"),
    ("urbansound8k", {"metadata/UrbanSound8K.csv": "slice_file_name,fold,classID,class\na.wav,1,0,dog\n,1,0,dog\n"}, {},
     r"UrbanSound8K.csv: column 'slice_file_name' row 3 is empty \(1 such rows\); fill them or drop"),
    ("emomusic", {"annotations/static_annotations.csv": "song_id,mean_arousal,mean_valence\n2,5,high\n",
                  "clips_45seconds/2.mp3": ""}, {}, r"static_annotations.csv: column 'mean_valence' row 2 holds 'high'"),
    ("emomusic", {"annotations/static_annotations.csv": "song_id,mean_arousal,mean_valence\n2,5,4\n2a,5,4\n",
                  "clips_45seconds/2.mp3": ""}, {}, r"static_annotations.csv: column 'song_id' row 3 holds '2a'"),
    ("magnatagatune", {"annotations_final.csv": "clip_id\trock\tmp3_path\n1\t1\t\n"}, {},
     r"annotations_final.csv: column 'mp3_path' row 2 is empty"),
    ("jamendo_vocal", {"train/x.ogg": "", "valid/y.ogg": "", "test/z.ogg": ""}, {},
     r"no .lab file found; the root must hold the label files"),
    ("jamendo_vocal", {"train/x.lab": "0 1 sing\n", "valid/.keep": "", "test/.keep": ""}, {},
     r"no audio in train/, valid/ or test/; put each split's tracks in its folder"),
])
def test_layout_faults_name_the_file_and_the_fix(tmp_path, kind, files, options, message):
    with pytest.raises(ManifestError, match=message):
        build(kind, _layout(tmp_path, files), **options)


def test_missing_label_files_are_named_before_any_job(tmp_path):
    (tmp_path / "a.wav").write_bytes(b"")
    spec = {"type": "csv", "root": str(tmp_path), "table": "labels.csv"}
    assert missing_data("x", spec) == (f"datasets.x (csv): table {tmp_path / 'labels.csv'} not found; fix the path "
                                       "(relative to the root, or absolute)")
    (tmp_path / "labels.csv").write_text("path\na.wav\n")
    assert missing_data("x", spec) is None
    spec["split_files"] = {"train": "lists/train.txt", "valid": str(tmp_path / "valid.txt"), "test": "labels.csv"}
    assert f"split_files.train {tmp_path / 'lists' / 'train.txt'}, split_files.valid {tmp_path / 'valid.txt'} not found" \
        in missing_data("x", spec)
