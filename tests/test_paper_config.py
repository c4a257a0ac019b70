"""config/paper.yaml: a clear list of missing data, and the paper's whole DAG on miniatures."""

from __future__ import annotations

import re
from collections import Counter

import pytest
import yaml

import miniatures
import pandas as pd

from conftest import CHOI2017, REPO, run_snakemake, shared_file
from mirtransfer.featuresets import read_features
from mirtransfer.datasets import SOURCES
from mirtransfer.reproduction import TASKS, cell_memory_mb

PAPER = REPO / "config" / "paper.yaml"
SLURM = ["--profile", str(REPO / "profiles" / "slurm"), "--workflow-profile", "none"]


def paper_config(workdir, roots) -> str:
    """config/paper.yaml with the miniatures' roots; returns its path."""
    config = yaml.safe_load(PAPER.read_text())
    for name, root in roots.items():
        config["datasets"][name]["root"] = str(root)
    config["datasets"]["msd"]["split_dir"] = str(roots["msd"].parent / "MSD_split_for_tagging")
    path = workdir / "paper.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def dry_run_jobs(output: str) -> list[tuple[str, str]]:
    """(rule, resources line) of every job in a dry run's output."""
    jobs: list[list[str]] = []
    for line in output.splitlines():
        if match := re.fullmatch(r"\s*(?:local)?rule (\w+):", line):
            jobs.append([match[1], ""])
        elif (match := re.fullmatch(r"\s+resources: (.*)", line)) and jobs:
            jobs[-1][1] = match[1]
    return [(rule, resources) for rule, resources in jobs]


def test_missing_data_is_listed_with_where_to_get_it(tmp_path):
    result = run_snakemake(tmp_path, "--configfile", str(PAPER), "-n")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Traceback" not in output and "File \"" not in output
    config = yaml.safe_load(PAPER.read_text())
    for name, spec in config["datasets"].items():
        assert f"datasets.{name} ({spec['type']}): root {spec['root']}" in output
        assert SOURCES[spec["type"]] in output
    assert "models.convnet needs one of them: msd or magnatagatune" in output


@pytest.fixture(scope="module")
def paper_data(tmp_path_factory):
    base = tmp_path_factory.mktemp("paper")
    return base, miniatures.all_paper_datasets(base / "data")


def test_paper_dag_on_miniatures_through_the_slurm_profile(paper_data):
    base, roots = paper_data
    result = run_snakemake(base, "--configfile", paper_config(base, roots), "-n", *SLURM, without_torch=True)
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = dry_run_jobs(result.stdout + result.stderr)
    counts = Counter(rule for rule, _ in jobs)
    # 8 tasks (the paper's 7 and fault-filtered GTZAN) x (5 extractors x 31 layer combinations + mfcc +
    # mfcc+choi2017_paper:12345)
    assert counts["score"] == 8 * (5 * 31 + 2)
    assert "results/paper/scores/gtzan_genre_filtered/choi2017_paper:12345.json" in result.stdout
    assert counts["train"] == 1 and counts["features"] == 6 * 5 and counts["mfcc"] == 6
    # the paper's network, as the authors ran it and batch-independent, against data_feats
    assert counts["reproduction_features"] == 6 * 2 and counts["choi2017_convert"] == 2
    assert "results/paper/reproduction/features/urbansound8k/choi2017_paper.csv" in result.stdout
    # its batches follow the authors' tables; its cells get the published score beside them
    assert re.search(r"input: [^\n]*resources/choi2017/data_csv/urbansound.csv[^\n]*\n\s+output: "
                     r"results/paper/urbansound8k/features/choi2017_paper/layer1.parquet", result.stdout)
    assert "resources/choi2017/result_transfer/T_gtzan_genre_F_mine_01234_CL_SVC.npy" in result.stdout
    assert "results/paper/scores/emoMusic_a/mfcc+choi2017_paper:12345.json" in result.stdout
    assert counts["manifest"] == 7 and counts["reproduction"] == 7  # magnatagatune: MSD is present
    assert counts["reproduction_cell"] == 210  # every published cell, one job each
    cell_mem = {int(re.search(r"mem_mb=(\d+)", r)[1]) for rule, r in jobs if rule == "reproduction_cell"}
    # a dry run shows every job with one thread; the estimate follows each task's clips
    assert cell_mem == {cell_memory_mb(task, 1) for task in TASKS} and max(cell_mem) == cell_memory_mb("urbansound", 1)
    # By hand: a float64 matrix of urbansound's 8,732 clips squared is 8 x 8,732^2 / 2^20 = 581.7 MB; two of all
    # clips and three per thread, 200 MB per thread and 1,000 MB besides.
    assert (cell_memory_mb("urbansound", 1), cell_memory_mb("urbansound", 2)) == (4108, 6053)
    gpu_rules = {rule for rule, resources in jobs if re.search(r"\bgpu=1\b", resources)}
    assert gpu_rules == {"train", "features"}
    assert all("gpu=1" in resources for rule, resources in jobs if rule in ("train", "features"))
    assert "results/paper/msd/manifest.parquet" in result.stdout
    # the SVM jobs go to the cluster in groups of 4 (profiles/slurm: group-components)
    assert result.stdout.count("Group job scores") == -(-counts["score"] // 4) == 314


def test_a_root_one_folder_too_deep_is_caught_by_the_dry_run(paper_data, tmp_path):
    base, roots = paper_data
    roots = {**roots, "gtzan_genre": roots["gtzan_genre"] / "genres"}
    result = run_snakemake(tmp_path, "--configfile", paper_config(tmp_path, roots), "-n")
    assert result.returncode != 0
    assert (f"datasets.gtzan_genre (gtzan_genre): root {roots['gtzan_genre']} does not hold genres "
            "(it holds ['blues', 'classical'") in result.stdout + result.stderr


def test_source_falls_back_to_magnatagatune(paper_data, tmp_path):
    base, roots = paper_data
    roots = {**roots, "msd": tmp_path / "no-msd"}
    result = run_snakemake(tmp_path, "--configfile", paper_config(tmp_path, roots), "-n",
                           "results/paper/models/convnet/metrics.json")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "results/paper/magnatagatune/manifest.parquet" in result.stdout
    assert "results/paper/msd/" not in result.stdout


def test_manifest_warns_when_counts_differ_from_the_paper(paper_data, tmp_path):
    """10 clips per class: enough for the task's 10 folds, which the manifest job checks too."""
    base, roots = paper_data
    miniatures.gtzan_speech_music(tmp_path / "music_speech", per_class=10)
    roots = {**roots, "gtzan_speech_music": tmp_path / "music_speech"}
    result = run_snakemake(tmp_path, "--configfile", paper_config(tmp_path, roots), "--cores", "1",
                           "results/paper/gtzan_speech_music/manifest.parquet")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "gtzan_speech_music: 20 clips, the paper used 128 (-108)" in result.stderr


def test_rule_graph_shows_the_whole_experiment(paper_data):
    base, roots = paper_data
    result = run_snakemake(base, "--configfile", paper_config(base, roots), "--forceall", "--rulegraph")
    assert result.returncode == 0, result.stderr[-3000:]
    rules = set(re.findall(r'label = "(\w+)"', result.stdout))
    assert rules == {"all", "manifest", "melspec", "melspec_summary", "train", "choi2017_model_download",
                     "choi2017_convert", "features", "mfcc", "score", "summary", "choi2017_download",
                     "reproduction_cell", "reproduction", "reproduction_summary", "reproduction_features"}


@pytest.mark.slow
def test_paper_convnet_through_the_rules(paper_hdf5, tmp_path):
    """The paper's network downloaded (sha256-checked), converted, run in the authors' batches and
    order on a GTZAN music/speech miniature, its comparison with data_feats written (clips matched and
    correlations in range: 6 synthetic clips cannot reproduce the authors' 128-clip batches), scored
    beside the published cells."""
    rows = miniatures.gtzan_speech_music(tmp_path / "music_speech", per_class=3)
    paper = yaml.safe_load(PAPER.read_text())
    config = {
        "frontend": paper["frontend"], "excerpts": paper["excerpts"], "mfcc": {"audio": "clip"},
        "melspec": {"dtype": "float32", "batch_size": 4}, "fail_on_bad_audio": True,
        "datasets": {"gtzan_speech_music": {"type": "gtzan_speech_music", "root": str(tmp_path / "music_speech")}},
        "models": {"choi2017_paper": {"type": "choi2017_paper", "url": paper_hdf5.as_uri()}},
        "extractors": {"choi2017_paper": {"model": "choi2017_paper", "weights": "trained", "batchnorm": "batch",
                                          "batch_size": 4, "batch_order": "authors"}},
        "features": {"datasets": ["gtzan_speech_music"], "batch_size": 2},
        "tasks": {"gtzan_speechmusic": {"dataset": "gtzan_speech_music", "target": "label", "kind": "classification",
                                        "protocol": "kfold", "n_folds": 3}},
        "evaluation": {"feature_sets": ["choi2017_paper:12345", "choi2017_paper:1", "mfcc"]},
        "reproduction": {"root": str(CHOI2017), "extractor": "choi2017_paper", "compare_features": ["choi2017_paper"]},
        "resources": {"melspec": {"threads": 1}, "features": {"threads": 1, "gpu": 0}, "mfcc": {"threads": 1},
                      "score": {"threads": 1}},
    }
    path = tmp_path / "paper.yaml"
    path.write_text(yaml.safe_dump(config))
    result = run_snakemake(tmp_path, "--configfile", str(path), "--cores", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert (tmp_path / "resources/choi2017/models/choi2017_paper.hdf5").exists()
    _, meta = read_features(tmp_path / "results/gtzan_speech_music/features/choi2017_paper/layer1.parquet")
    assert meta["normalisation"]["batch_dependent"] and meta["normalisation"]["batch_order"] == "the authors' table"
    assert meta["normalisation"]["authors_clips_missing"] == 128 - len(rows)
    assert meta["frontend"]["flip_frames"] and meta["pooling"] == "post" and meta["excerpts"]["pad"] == "repeat"
    assert read_features(tmp_path / "results/gtzan_speech_music/features/mfcc/mfcc.parquet")[1]["extractor"]["audio"] == "clip"
    compared = pd.read_csv(tmp_path / "results/reproduction/features/gtzan_speech_music/choi2017_paper.csv")
    assert compared["layer"].tolist() == [1, 2, 3, 4, 5] and (compared["clips_matched"] == len(rows)).all()
    assert compared["pearson_r"].between(-1, 1).all() and compared["nearest_is_self"].between(0, 1).all()
    unmatched = pd.read_csv(tmp_path / "results/reproduction/features/gtzan_speech_music/choi2017_paper-unmatched.csv")
    assert (unmatched["where"] == "authors only").sum() == 128 - len(rows)
    scores = pd.read_csv(tmp_path / "results/summary/scores.csv").set_index("feature_set")
    published = pd.read_csv(shared_file(CHOI2017 / "published_scores.csv"))
    published = published[published["task"] == "gtzan_speechmusic"].set_index("features")["score"]
    for ours, theirs in [("choi2017_paper:12345", "convnet:12345"), ("choi2017_paper:1", "convnet:1"), ("mfcc", "mfcc")]:
        assert scores.loc[ours, "published"] == pytest.approx(published[theirs], abs=1e-9)
    assert "published (Choi et al. 2017)" in (tmp_path / "results/summary/scores.txt").read_text()
