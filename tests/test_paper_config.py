"""config/paper.yaml: a clear list of missing data, and the paper's whole DAG on miniatures."""

from __future__ import annotations

import re
import shutil
from collections import Counter

import pytest
import yaml

import miniatures
from conftest import REPO, run_snakemake
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
    result = run_snakemake(base, "--configfile", paper_config(base, roots), "-n", *SLURM)
    assert result.returncode == 0, result.stderr[-3000:]
    jobs = dry_run_jobs(result.stdout + result.stderr)
    counts = Counter(rule for rule, _ in jobs)
    # 7 tasks x (3 extractors x 31 layer combinations + mfcc + mfcc+convnet:12345)
    assert counts["score"] == 7 * (3 * 31 + 2)
    assert counts["train"] == 1 and counts["features"] == 6 * 3 and counts["mfcc"] == 6
    assert counts["manifest"] == 7 and counts["reproduction"] == 7  # magnatagatune: MSD is present
    assert counts["reproduction_cell"] == 210  # every published cell, one job each
    cell_mem = {int(re.search(r"mem_mb=(\d+)", r)[1]) for rule, r in jobs if rule == "reproduction_cell"}
    # a dry run shows every job with one thread; the estimate follows each task's clips
    assert cell_mem == {cell_memory_mb(task, 1) for task in TASKS} and max(cell_mem) == cell_memory_mb("urbansound", 1)
    gpu_rules = {rule for rule, resources in jobs if re.search(r"\bgpu=1\b", resources)}
    assert gpu_rules == {"train", "features"}
    assert all("gpu=1" in resources for rule, resources in jobs if rule in ("train", "features"))
    assert "results/msd/manifest.parquet" in result.stdout
    # the 665 SVM jobs go to the cluster in groups of 20 (profiles/slurm: group-components)
    assert result.stdout.count("Group job scores") == -(-counts["score"] // 20)


def test_source_falls_back_to_magnatagatune(paper_data, tmp_path):
    base, roots = paper_data
    roots = {**roots, "msd": tmp_path / "no-msd"}
    result = run_snakemake(tmp_path, "--configfile", paper_config(tmp_path, roots), "-n",
                           "results/models/convnet/metrics.json")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "results/magnatagatune/manifest.parquet" in result.stdout
    assert "results/msd/" not in result.stdout


def test_manifest_warns_when_counts_differ_from_the_paper(paper_data, tmp_path):
    base, roots = paper_data
    shutil.copytree(roots["gtzan_speech_music"], tmp_path / "music_speech")
    roots = {**roots, "gtzan_speech_music": tmp_path / "music_speech"}
    result = run_snakemake(tmp_path, "--configfile", paper_config(tmp_path, roots), "--cores", "1",
                           "results/gtzan_speech_music/manifest.parquet")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "gtzan_speech_music: 2 clips, the paper used 128 (-126)" in result.stderr


def test_rule_graph_shows_the_whole_experiment(paper_data):
    base, roots = paper_data
    result = run_snakemake(base, "--configfile", paper_config(base, roots), "--forceall", "--rulegraph")
    assert result.returncode == 0, result.stderr[-3000:]
    rules = set(re.findall(r'label = "(\w+)"', result.stdout))
    assert rules == {"all", "manifest", "melspec", "melspec_summary", "train", "choi2017_model_download",
                     "choi2017_convert", "features", "mfcc", "score", "summary", "choi2017_download",
                     "reproduction_cell", "reproduction", "reproduction_summary"}
