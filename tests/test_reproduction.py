"""The paper's table re-scored from the authors' released artefacts in ../shared/choi2017.

CI must have them: there a missing folder fails the tests; elsewhere they are skipped.
"""

from __future__ import annotations

import os

import pandas as pd
import pytest
import yaml

from conftest import REPO, run_snakemake
from mirtransfer.files import download, sha256
from mirtransfer.reproduction import LAYER5_CAUSE, published_scores, read_checksums, reproduce_task

SHARED = REPO.parent / "shared" / "choi2017"


@pytest.fixture(scope="module")
def choi2017():
    if not (SHARED / "result_transfer").is_dir():
        message = f"the authors' artefacts are missing: expected them in {SHARED}"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return SHARED


def test_published_scores_are_read_from_the_authors_files(choi2017):
    ours = published_scores(choi2017).sort_values(["task", "features"]).reset_index(drop=True)
    reference = pd.read_csv(choi2017 / "published_scores.csv").sort_values(["task", "features"]).reset_index(drop=True)
    assert len(ours) == 210
    pd.testing.assert_frame_equal(ours[["task", "features", "estimator"]], reference[["task", "features", "estimator"]])
    assert (ours["score"] - reference["score"]).abs().max() < 1e-9


def test_gtzan_genre_reproduces_exactly(choi2017):
    table = reproduce_task(choi2017, "gtzan_genre", n_jobs=2)
    assert len(table) == 30
    drift = table[table["abs_diff"] > 1e-6]
    assert drift.empty, drift.to_string()


def test_download_checks_sha256(choi2017, tmp_path):
    sums = read_checksums(REPO / "workflow" / "resources" / "choi2017.sha256")
    name = "data_csv/gtzan_speechmusic.csv"
    assert sums[name] == sha256(choi2017 / name)
    download((choi2017 / name).as_uri(), tmp_path / name, sums[name])
    assert (tmp_path / name).read_bytes() == (choi2017 / name).read_bytes()
    with pytest.raises(ValueError, match="sha256 .* differs"):
        download((choi2017 / name).as_uri(), tmp_path / "bad.csv", "0" * 64)
    assert not (tmp_path / "bad.csv").exists() and not list(tmp_path.glob(".bad.csv*"))


@pytest.mark.slow
def test_reproduction_rules_download_and_score(choi2017, tmp_path):
    """Download (from a local copy) and re-score gtzan_speechmusic through the workflow's rules."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["reproduction"] = {"root": "resources/choi2017", "tasks": ["gtzan_speechmusic"], "base_url": choi2017.as_uri()}
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(tmp_path, "--cores", "2", "results/reproduction/summary.csv")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "resources/choi2017/data_feats/gtzan_speechmusic_layer_0.npy").exists()
    table = pd.read_csv(tmp_path / "results/reproduction/gtzan_speechmusic.csv", keep_default_na=False, na_values=[""])
    assert list(table.columns) == ["task", "features", "published", "reproduced", "abs_diff", "note"] and len(table) == 30
    beyond = table[table["abs_diff"] > 1e-3]
    # The one known difference: layer 5 alone, read by the authors from an unreleased max-pooled file.
    assert beyond["features"].tolist() == ["convnet:5"] and (beyond["note"] == LAYER5_CAUSE).all()
    within = table[table["abs_diff"] <= 1e-3]
    assert within["abs_diff"].max() < 1e-6
    summary = pd.read_csv(tmp_path / "results/reproduction/summary.csv")
    assert summary["features"].iloc[0] == "convnet:5" and not summary["within_1e-3"].iloc[0]
