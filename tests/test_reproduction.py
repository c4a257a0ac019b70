"""The paper's table re-scored from the authors' released artefacts in ../shared/choi2017.

CI must have them: there a missing folder fails the tests; elsewhere they are skipped.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO, run_snakemake, shared_file
from mirtransfer.errors import UserError
from mirtransfer.files import download, sha256
from mirtransfer.folds import make_folds
from mirtransfer.reproduction import (LAYER5_CAUSE, TASKS, cell_files, compare_features, legacy_stratified_folds,
                                      likely_cause, published_cells, published_scores, read_checksums, reproduce_cell,
                                      reproduce_task, summarize)

SHARED = REPO.parent / "shared" / "choi2017"


@pytest.fixture(scope="module")
def choi2017():
    """The authors' artefacts: their scores, tables and features (fails in CI when one folder is missing)."""
    for folder in ("result_transfer", "data_feats", "data_csv"):
        shared_file(SHARED / folder)
    return shared_file(SHARED / "published_scores.csv").parent


def test_published_scores_are_read_from_the_authors_files(choi2017):
    ours = published_scores(choi2017).sort_values(["task", "features"]).reset_index(drop=True)
    reference = pd.read_csv(choi2017 / "published_scores.csv").sort_values(["task", "features"]).reset_index(drop=True)
    assert len(ours) == 210
    pd.testing.assert_frame_equal(ours[["task", "features", "estimator"]], reference[["task", "features", "estimator"]])
    assert (ours["score"] - reference["score"]).abs().max() < 1e-9


def test_each_published_cell_names_its_released_files():
    """The workflow's cell jobs come from the checksum list: 30 per task, each with its own files."""
    released = set(read_checksums(REPO / "workflow" / "resources" / "choi2017.sha256"))
    cells = published_cells(sorted(released))
    assert sorted(cells) == sorted(TASKS) and all(len(c) == 30 for c in cells.values())
    assert "convnet:135" in cells["gtzan_genre"] and "mfcc+convnet:12345" in cells["emoMusic_v"]
    missing = {(task, f) for task, features in cells.items() for f in features
               if not set(cell_files(task, f)) <= released}
    assert missing == {("urbansound", "mfcc"), ("urbansound", "mfcc+convnet:12345")}  # no urbansound_mfcc.npy
    assert cell_files("emoMusic_a", "mfcc+convnet:12345") == [
        "data_csv/emoMusic.csv", "result_transfer/T_emoMusic_a_F_mfcc+12345_4_CL_SVR.npy", "data_feats/emoMusic_mfcc.npy",
        *[f"data_feats/emoMusic_layer_{i}.npy" for i in range(5)]]


def test_a_cell_without_released_features_is_recorded_not_scored(choi2017, tmp_path):
    for name in ["data_csv/urbansound.csv", "result_transfer/T_urbansound_F_mfcc_4_CL_SVC.npy"]:
        (tmp_path / name).parent.mkdir(exist_ok=True)
        shutil.copy(choi2017 / name, tmp_path / name)
    cell = reproduce_cell(tmp_path, "urbansound", "mfcc")
    assert cell["reproduced"] is None and cell["note"] == "features not in the released files"
    with pytest.raises(FileNotFoundError, match="no published score for urbansound convnet:1"):
        reproduce_cell(tmp_path, "urbansound", "convnet:1")


def test_gtzan_genre_reproduces_exactly(choi2017):
    table = reproduce_task(choi2017, "gtzan_genre", n_jobs=2)
    assert len(table) == 30 and table["reproduced"].notna().all(), table.to_string()  # every cell scored
    drift = table[table["abs_diff"] > 1e-6]
    assert drift.empty, drift.to_string()


def test_download_checks_sha256(choi2017, tmp_path):
    sums = read_checksums(REPO / "workflow" / "resources" / "choi2017.sha256")
    name = "data_csv/gtzan_speechmusic.csv"
    assert sums[name] == sha256(choi2017 / name)
    download((choi2017 / name).as_uri(), tmp_path / name, sums[name], fix="unused")
    assert (tmp_path / name).read_bytes() == (choi2017 / name).read_bytes()
    with pytest.raises(UserError, match="sha256 .* differs from the expected 0{64}; the file was not kept: set X$"):
        download((choi2017 / name).as_uri(), tmp_path / "bad.csv", "0" * 64, fix="set X")
    assert not (tmp_path / "bad.csv").exists() and not list(tmp_path.glob(".bad.csv*"))


@pytest.mark.slow
def test_reproduction_rules_download_and_score(choi2017, tmp_path):
    """Download (from a local copy) and re-score gtzan_speechmusic through the workflow's rules;
    a mirror whose file differs is refused, naming the setting to check."""
    first = next(iter(read_checksums(REPO / "workflow" / "resources" / "choi2017.sha256")))  # downloaded first
    (tmp_path / "mirror" / first).parent.mkdir(parents=True)
    (tmp_path / "mirror" / first).write_text("not the authors' file")
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["reproduction"] = {"root": "resources/choi2017", "tasks": ["gtzan_speechmusic"],
                              "base_url": (tmp_path / "mirror").as_uri()}
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(tmp_path, "--cores", "2", "results/reproduction/summary.csv")
    log = (tmp_path / "logs/reproduction/choi2017_download.log").read_text()
    assert result.returncode != 0 and "the file was not kept: check reproduction.base_url" in log, log[-2000:]
    config["reproduction"]["base_url"] = choi2017.as_uri()
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(tmp_path, "--cores", "2", "results/reproduction/summary.csv")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "resources/choi2017/data_feats/gtzan_speechmusic_layer_0.npy").exists()
    table = pd.read_csv(tmp_path / "results/reproduction/gtzan_speechmusic.csv", keep_default_na=False, na_values=[""])
    assert list(table.columns) == ["task", "features", "published", "reproduced", "abs_diff", "note"] and len(table) == 30
    # every cell exactly, convnet:5 included, with the authors' fold construction
    assert table["abs_diff"].max() < 1e-6 and table["note"].isna().all(), table.to_string()
    cell = json.loads((tmp_path / "results/reproduction/cells/gtzan_speechmusic/mfcc.json").read_text())
    assert cell["evaluation"]["fits"]["grid"] == 320 and cell["evaluation"]["best_params"]["scale"] is False
    assert (tmp_path / "benchmarks/reproduction/gtzan_speechmusic/mfcc.tsv").exists()
    log = (tmp_path / "logs/reproduction/gtzan_speechmusic/mfcc.log").read_text()
    assert "fold 1 of 10: 32 candidates" in log and "reproduced" in log  # progress of long cells, then the result
    unknown = run_snakemake(tmp_path, "-n", "results/reproduction/cells/gtzan_speechmusic/convnet:6.json")
    assert unknown.returncode != 0 and "gtzan_speechmusic has no published cell 'convnet:6'" in unknown.stdout + unknown.stderr
    summary = pd.read_csv(tmp_path / "results/reproduction/summary.csv")
    assert len(summary) == 30 and summary["within_1e-3"].all()


def test_summary_lists_cells_beyond_the_tolerance_first(tmp_path):
    rows = [{"task": "jamendo_vd", "features": f, "published": p, "reproduced": r, "abs_diff": abs(p - r),
             "note": likely_cause("jamendo_vd", f) if abs(p - r) > 1e-3 else ""}
            for f, p, r in [("convnet:1", 0.9, 0.9), ("convnet:5", 0.878, 0.951), ("convnet:2", 0.9, 0.9005)]]
    pd.DataFrame(rows).to_csv(tmp_path / "jamendo_vd.csv", index=False)
    summary = summarize([tmp_path / "jamendo_vd.csv"], tmp_path / "summary.csv")
    assert summary["features"].tolist() == ["convnet:5", "convnet:1", "convnet:2"]
    assert summary["within_1e-3"].tolist() == [False, True, True] and summary["note"].iloc[0] == LAYER5_CAUSE
    assert likely_cause("jamendo_vd", "convnet:2") == "differs beyond 1e-3: cause unknown"


def test_folds_are_built_as_the_authors_scikit_learn_did():
    """Before 0.22, StratifiedKFold cut each class in order into contiguous chunks, the first ones larger."""
    y = np.array(["a"] * 13 + ["b"] * 7)
    folds = legacy_stratified_folds(y, 3)
    a, b = np.arange(13), np.arange(13, 20)
    expected = [np.r_[a[:5], b[:3]], np.r_[a[5:9], b[3:5]], np.r_[a[9:], b[5:]]]
    for (train, test), want in zip(folds, expected, strict=True):
        assert test.tolist() == want.tolist() and sorted(np.r_[train, test].tolist()) == list(range(20))
    today = make_folds("kfold", "classification", y, n_folds=3)
    assert any(t.tolist() != w.tolist() for (_, t), w in zip(today, expected))  # today's folds differ here
    with pytest.raises(ValueError, match="class 'b' has 7 clips, fewer than n_folds=8"):
        legacy_stratified_folds(y, 8)


def test_ballroom_reproduces_exactly_with_the_authors_folds(choi2017):
    """convnet:3 differs by 7.2e-4 (3 of 4,180 clips) with today's StratifiedKFold, and not at all with the authors'."""
    cell = reproduce_cell(choi2017, "ballroom_extended", "convnet:3", n_jobs=2)
    assert cell["abs_diff"] < 1e-9 and cell["evaluation"]["fold_sizes"][:3] == [423, 423, 422]


def test_feature_comparison_on_known_cases():
    """Ours equal to the authors' (rows in another order, one clip on each side only): r 1, error 0, every
    nearest row its own; the authors' rows misaligned by one: each clip's nearest row is another's; ours
    scaled by 1.1: relative error 0.1 (the norm of the difference over the authors' norm)."""
    rng = np.random.default_rng(0)
    ids = [f"c{i}" for i in range(12)]
    layers = [rng.normal(size=(12, 32)) for _ in range(5)]
    ours = [pd.DataFrame(v[:11], columns=[f"l{k}_{j:02d}" for j in range(32)]).assign(clip_id=ids[:11])
            for k, v in enumerate(layers, start=1)]
    order = rng.permutation(12)
    authors_ids = [ids[i] for i in order] + ["theirs_only"]
    authors = [np.vstack([v[order], rng.normal(size=(1, 32))]) for v in layers]
    same, unmatched = compare_features(ours, authors, authors_ids)
    assert same["clips_matched"].tolist() == [11] * 5
    assert same["pearson_r"].tolist() == pytest.approx([1.0] * 5) and same["median_relative_error"].max() < 1e-12
    assert same["nearest_is_self"].tolist() == [1.0] * 5
    assert sorted(map(tuple, unmatched.to_numpy())) == [("c11", "authors only"), ("theirs_only", "authors only")]
    shifted, _ = compare_features(ours, [np.roll(a, 1, axis=0) for a in authors], authors_ids)
    assert shifted["nearest_is_self"].max() == 0.0 and shifted["pearson_r"].max() < 0.5
    scaled = [o.assign(**{c: o[c] * 1.1 for c in o.columns if c != "clip_id"}) for o in ours]
    assert compare_features(scaled, authors, authors_ids)[0]["median_relative_error"].tolist() == pytest.approx([0.1] * 5)
