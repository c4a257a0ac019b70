"""Manifest builders on tiny generated layouts: content, order, and clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import write_tone
from mirtransfer.datasets import build_manifest
from mirtransfer.frontend import ExcerptPolicy, FrontEnd
from mirtransfer.manifest import ManifestError, check_source, check_tasks, finalize, label_kind, read_manifest, write_manifest
from mirtransfer.melspec import MelExtractor


def folder_layout(root):
    for cls, names in {"rock": ["b.wav", "a.flac"], "jazz": ["sub/c.mp3"], "blues": ["d.ogg"]}.items():
        for name in names:
            write_tone(root / cls / name, 1.2, 8000)
    (root / "rock" / "notes.txt").write_text("not audio, ignored")
    return root


def test_folder_per_class(tmp_path):
    df = build_manifest("toy", {"type": "folder_per_class", "root": str(folder_layout(tmp_path))})
    assert list(df["clip_id"]) == ["blues/d", "jazz/sub/c", "rock/a", "rock/b"]
    assert list(df["path"]) == ["blues/d.ogg", "jazz/sub/c.mp3", "rock/a.flac", "rock/b.wav"]
    assert list(df["label"]) == ["blues", "jazz", "rock", "rock"]
    assert df["split"].isna().all() and df["fold"].isna().all()
    assert label_kind(df) == "class"


def test_folder_per_class_errors(tmp_path):
    root = folder_layout(tmp_path)
    with pytest.raises(ManifestError, match=r"class folders \['pop'\] are missing"):
        build_manifest("toy", {"type": "folder_per_class", "root": str(root), "classes": ["rock", "pop"]})
    (root / "pop").mkdir()
    with pytest.raises(ManifestError, match="pop: class folder holds no audio"):
        build_manifest("toy", {"type": "folder_per_class", "root": str(root)})
    with pytest.raises(ManifestError, match="root folder .* does not exist"):
        build_manifest("toy", {"type": "folder_per_class", "root": str(tmp_path / "nope")})


def test_csv_with_class_fold_and_segments(tmp_path):
    pd.DataFrame({
        "file": ["x/2.wav", "x/1.wav", "x/1.wav"],
        "cls": ["yes", "no", "yes"],
        "fold": ["2", "1", "1"],
        "t0": ["0", "0", "1.5"],
        "t1": ["1.5", "1.5", "3"],
        "key": ["z", "a1", "a2"],
    }).to_csv(tmp_path / "meta.csv", index=False)
    spec = {"type": "csv", "root": str(tmp_path), "table": "meta.csv",
            "columns": {"path": "file", "label": "cls", "fold": "fold", "start": "t0", "end": "t1", "id": "key"}}
    df = build_manifest("toy", spec)
    assert list(df["clip_id"]) == ["a1", "a2", "z"]
    assert list(df["fold"]) == [1, 1, 2] and list(df["start"]) == [0, 1.5, 0] and list(df["end"]) == [1.5, 3, 1.5]
    out = tmp_path / "m.parquet"
    write_manifest(df, out, {"dataset": "toy", "root": str(tmp_path)})
    back, meta = read_manifest(out)
    for column in df.columns:
        assert back[column].tolist() == df[column].tolist() or back[column].isna().all() and df[column].isna().all(), column
    assert meta == {"dataset": "toy", "root": str(tmp_path), "label_kind": "class", "n_clips": 3}


def test_csv_tags_and_targets(tmp_path):
    (tmp_path / "t.tsv").write_text("path\ttags\tsplit\taro\tval\nb.wav\trock; guitar\ttrain\t0.5\t0.25\na.wav\t\ttest\t0.1\t0.9\n")
    spec = {"type": "csv", "root": str(tmp_path), "table": "t.tsv", "columns": {"tags": "tags", "split": "split"}, "targets": ["aro", "val"]}
    df = build_manifest("toy", spec)
    assert list(df["clip_id"]) == ["a", "b"]
    assert [list(t) for t in df["tags"]] == [[], ["rock", "guitar"]]
    assert list(df["aro"]) == [0.1, 0.5] and list(df["val"]) == [0.9, 0.25]
    assert label_kind(df) == "tags"
    write_manifest(df, tmp_path / "m.parquet", {"dataset": "toy", "root": "."})
    back, _ = read_manifest(tmp_path / "m.parquet")
    assert [list(t) for t in back["tags"]] == [[], ["rock", "guitar"]]
    assert list(back.columns)[-2:] == ["aro", "val"]


@pytest.mark.parametrize("table, columns, message", [
    ("path,label\na.wav,x\n", {"label": "genre"}, r"columns \['genre \(for label\)'\] not found"),
    ("path,label\na.wav,x\nb.wav,\n", {"label": "label"}, "1 rows have no label"),
    ("path,fold\na.wav,one\n", {"fold": "fold"}, "'fold' row 2 holds 'one', not a number"),
    ("path,fold\na.wav,1.5\n", {"fold": "fold"}, "whole numbers"),
    ("path\na.wav\na.flac\n", {}, "clip_id 'a' occurs more than once \\(1 duplicates\\), from 'a.wav' and 'a.flac'; keep one"),
    ("path,s,e\na.wav,2,1\n", {"start": "s", "end": "e"}, "ends before it starts"),
])
def test_csv_errors_name_the_problem(tmp_path, table, columns, message):
    (tmp_path / "labels.csv").write_text(table)
    with pytest.raises(ManifestError, match=message):
        build_manifest("toy", {"type": "csv", "root": str(tmp_path), "table": "labels.csv", "columns": columns})


def test_csv_missing_table_and_unknown_type(tmp_path):
    with pytest.raises(ManifestError, match="labels.csv: label table not found"):
        build_manifest("toy", {"type": "csv", "root": str(tmp_path), "table": "labels.csv"})
    with pytest.raises(ManifestError, match="unknown type 'mtat'"):
        build_manifest("toy", {"type": "mtat", "root": str(tmp_path)})


def test_every_audio_looking_entry_is_listed_and_bad_ones_rejected(tmp_path):
    """Broken links, folders named like audio and AIFF files reach the manifest; the spectrogram
    stage rejects the unusable ones with the reason, so nothing is left out silently."""
    root = folder_layout(tmp_path / "data")
    write_tone(root / "jazz" / "e.aiff", 1.2, 8000)
    (root / "jazz" / "gone.wav").symlink_to(tmp_path / "nowhere.wav")
    (root / "blues" / "folder.wav").mkdir()
    df = build_manifest("toy", {"type": "folder_per_class", "root": str(root)})
    assert {"jazz/e", "jazz/gone", "blues/folder"} <= set(df["clip_id"])
    result = MelExtractor(FrontEnd(duration=1.0), ExcerptPolicy()).run(df, root, tmp_path / "mel.parquet")
    reasons = {r["clip_id"]: r["reason"] for r in result.rejected}
    assert reasons == {"jazz/gone": f"broken symbolic link (to {tmp_path / 'nowhere.wav'})",
                       "blues/folder": "a folder, not an audio file"}


def test_one_clip_in_two_files_names_both(tmp_path):
    root = folder_layout(tmp_path)
    write_tone(root / "rock" / "b.mp3", 1.2, 8000)
    with pytest.raises(ManifestError, match=r"rock/b.mp3 and rock/b.wav are one clip \('rock/b'\) in two files .* "
                                            r"keep one of each"):
        build_manifest("toy", {"type": "folder_per_class", "root": str(root)})


TASK = {"kind": "classification", "protocol": "kfold", "n_folds": 2, "train_splits": ["train", "valid"],
        "test_splits": ["test"]}


@pytest.mark.parametrize("task, message", [
    ({**TASK, "target": "tempo"}, r"tasks.t.target: 'tempo' is not a column of dataset 'toy'; .*'label'"),
    ({**TASK, "target": "label", "protocol": "predefined_folds"}, r"tasks.t: protocol predefined_folds needs the 'fold' column"),
    ({**TASK, "target": "label", "n_folds": 5},
     r"^dataset 'toy': tasks.t: class 'jazz' has 4 clips, fewer than 5 folds; lower n_folds or add clips$"),
    ({**TASK, "target": "mood", "kind": "regression"},
     r"^dataset 'toy': tasks.t: kind regression needs a number in 'mood' for every clip; clip 'c1' has 'calm'; "
     r"fix the value or use kind classification$"),
])
def test_tasks_are_checked_against_the_manifest(task, message):
    df = finalize(pd.DataFrame({"clip_id": [f"c{i}" for i in range(8)], "path": [f"c{i}.wav" for i in range(8)],
                                "label": ["rock", "jazz"] * 4, "bpm": np.arange(8.0),
                                "mood": ["1.5", "calm"] + ["2"] * 6}), "toy")
    check_tasks(df, "toy", {"ok": {**TASK, "target": "label"}, "bpm": {**TASK, "target": "bpm", "kind": "regression"}})
    with pytest.raises(ManifestError, match=message):
        check_tasks(df, "toy", {"t": task})


def test_a_source_dataset_needs_each_split():
    df = finalize(pd.DataFrame({"clip_id": ["a", "b", "c"], "path": ["a.wav", "b.wav", "c.wav"],
                                "tags": [["rock"], ["pop"], []], "split": ["train", "valid", "test"]}), "src")
    models = {"convnet": {"type": "train", "dataset": ["msd", "src"]}, "c": {"type": "choi2017"}}
    check_source(df, "src", models)
    with pytest.raises(ManifestError, match=r"^dataset 'src', the source of models.convnet, has no clip in split "
                                            r"\['valid'\]; its splits: \{'train': 2, 'test': 1\}"):
        check_source(df.assign(split=["train", "train", "test"]), "src", models)
    check_source(df.assign(split=None), "other", models)  # not a source: not checked
