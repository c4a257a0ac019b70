"""The Snakemake workflow itself: lint, config validation, and an end-to-end ingestion run."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sysconfig
import time
import venv
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from conftest import CHOI2017, REPO, run_snakemake, shared_file, write_config, write_tone
from mirtransfer.featuresets import read_features
from mirtransfer.files import sha256
from mirtransfer.meltable import MelTable


def test_lint_is_clean(tmp_path):
    result = run_snakemake(REPO, "--lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Congratulations" in result.stdout + result.stderr


def test_demo_config_dry_run():
    """The demo's DAG, built with torch unimportable: parsing the workflow stays light."""
    result = run_snakemake(REPO, "-n", "--forceall", "--quiet", "rules", without_torch=True)
    assert result.returncode == 0, result.stderr
    rules = {line.split()[0] for line in (result.stdout + result.stderr).splitlines()
             if len(line.split()) == 2 and line.split()[1].isdigit()}
    expected = {"demo_corpus", "manifest", "melspec", "melspec_summary", "train", "features", "mfcc", "score_task", "summary"}
    assert expected <= rules, sorted(rules)


@pytest.mark.parametrize("change, message", [
    ({"frontend": {"sample_rate": 12000, "n_fft": 512, "hop_length": 256, "n_mels": 96, "f_min": 0, "f_max": 6000, "duraton": 29}},
     "'duraton' was unexpected"),
    ({"datasets": {"x": {"type": "mtat", "root": "data"}}}, "'mtat' is not one of"),
    ({"datasets": {"x": {"type": "csv", "root": "data"}}}, "'table' is a required property"),
    ({"melspec": {"dtype": "int8"}}, "'int8' is not one of"),
    ({"models": {"c": {"type": "choi2017", "optional": True}}}, "'path' is a dependency of 'optional'"),
    ({"models": {"m": {"type": "choi2017paper"}}}, "models.m.type: 'choi2017paper' is not one of"),
    ({"models": {"m": {"dataset": "x", "seed": -1}}}, "models.m.seed: -1 is less than the minimum of 0"),
    ({"fail_on_bad_audio": None}, "top level: 'fail_on_bad_audio' is a required property; see config/README.md"),
])
def test_bad_config_is_refused_with_its_key(tmp_path, change, message):
    write_config(tmp_path, **change)
    result = run_snakemake(tmp_path, "-n")
    assert result.returncode != 0
    assert message in result.stdout + result.stderr
    assert len((result.stdout + result.stderr).splitlines()) < 20  # the key and the fault, not the whole schema


def test_feature_set_mistakes_are_refused_by_the_dry_run(tmp_path):
    evaluation = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["evaluation"]
    write_config(tmp_path, evaluation={**evaluation, "feature_sets": ["convnet", "mfcc", "mfcc", "mfcc:1"]})
    result = run_snakemake(tmp_path, "-n")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "evaluation.feature_sets: ['mfcc'] listed twice; list each once" in output
    assert "feature set 'convnet': give 'convnet' its layers, e.g. convnet:12345" in output
    assert "feature set 'mfcc:1': mfcc has no layers; write mfcc" in output


def test_config_mistakes_name_the_file_and_the_fix(tmp_path):
    """The config actually given is named; a key given twice is refused with both lines; a converted
    model's excerpts too short for its pooling are refused before anything runs."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["tasks"]["genre"]["dataset"] = "nope"
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(tmp_path, "--configfile", str(tmp_path / "mine.yaml"), "-n")
    output = result.stdout + result.stderr
    assert result.returncode != 0 and f"{tmp_path / 'mine.yaml'}: tasks.genre.dataset: 'nope'" in output
    text = (REPO / "config" / "config.yaml").read_text()
    (tmp_path / "twice.yaml").write_text(text + "\ntasks:\n  x: {dataset: demo_genre, target: label, kind: classification, protocol: kfold}\n")
    first = next(i for i, line in enumerate(text.splitlines(), start=1) if line.startswith("tasks:"))
    result = run_snakemake(tmp_path, "--configfile", str(tmp_path / "twice.yaml"), "-n")
    assert result.returncode != 0
    assert f"'tasks' on lines {first} and {len(text.splitlines()) + 2}" in result.stdout + result.stderr
    config = yaml.safe_load(text)
    config["extractors"]["choi2017"]["pooling"] = "post"  # its duration is 8 s
    config["models"]["choi2017"]["path"] = str(REPO / "README.md")  # present, so the model is used
    (tmp_path / "short.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(tmp_path, "--configfile", str(tmp_path / "short.yaml"), "-n")
    assert result.returncode != 0
    assert ("extractors.choi2017 (model type choi2017) needs excerpts of at least 27.286 s (1280 frames) with "
            "pooling 'post'") in result.stdout + result.stderr


def test_config_mistakes_found_before_any_job_are_all_listed(tmp_path):
    """Settings that each job would refuse late (the front end, a random network from a converted
    model, batchnorm options, splits trained on and scored) are refused by the dry run, all at once."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["frontend"]["f_max"] = 8000.0
    config["extractors"]["random"]["model"] = "choi2017_paper"
    config["extractors"]["convnet"]["batchnorm"] = "batch"
    config["extractors"]["choi2017_paper"]["batchnorm"] = "identity"
    config["tasks"]["split"] = {"dataset": "demo_genre", "target": "label", "kind": "classification",
                                "protocol": "train_test", "valid_splits": ["valid"]}
    config["tasks"]["folds"] = {"dataset": "demo_genre", "target": "label", "kind": "classification",
                                "protocol": "kfold", "valid_splits": ["valid"]}
    config["tasks"]["peek"] = {"dataset": "demo_genre", "target": "label", "kind": "classification",
                               "protocol": "train_test", "train_splits": ["train"], "valid_splits": ["test"]}
    config["models"]["convnet"]["dataset"] = ["demo_genre", "demo_tags"]
    config["datasets"]["demo_tags"]["columns"].pop("split")
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(tmp_path, "--configfile", str(tmp_path / "mine.yaml"), "-n")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    for problem in ["frontend.f_max 8000.0 Hz is above Nyquist (6000.0 Hz)",
                    "extractors.random: random weights take channels and input_norm from a model of type train, "
                    "and 'choi2017_paper' is 'choi2017_paper'",
                    "extractors.convnet.batchnorm: 'batch' is not an option here: a trained model uses its own "
                    "statistics; remove the option",
                    "extractors.choi2017_paper.batchnorm: 'identity' is not an option here: use one of ['batch', 'target']",
                    "tasks.split: splits ['valid'] are in train_splits and in valid_splits, so the clips scored "
                    "would be trained on; remove them from train_splits",
                    "tasks.folds.valid_splits goes with protocol train_test, not 'kfold'",
                    "tasks.peek: splits ['test'] are in valid_splits and in test_splits, so the hyper-parameters "
                    "would be selected on the clips reported",
                    "models.convnet.dataset: datasets.demo_genre (type folder_per_class) has no tags: a source dataset "
                    "is of type msd, magnatagatune, or csv with columns tags and split",
                    "models.convnet.dataset: datasets.demo_tags.columns has no split: a source dataset needs tags and "
                    "a train/valid/test split; name their columns"]:
        assert problem in output, problem


def test_a_fault_in_a_job_prints_one_line(tmp_path):
    """A known, user-fixable error in a job: its message alone, no Python traceback; the log keeps it."""
    root = tmp_path / "data"
    root.mkdir()
    (root / "t.csv").write_text("path,label\na.wav,x\n")
    write_config(tmp_path, datasets={"d": {"type": "csv", "root": "data", "table": "t.csv", "columns": {"label": "genre"}}},
                 models={}, extractors={}, features={"datasets": []}, tasks={}, tagging=None)
    result = run_snakemake(tmp_path, "--cores", "1", "results/d/manifest.parquet")
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "columns ['genre (for label)'] not found; the table has ['path', 'label']; fix 'columns'" in output
    assert "Traceback" not in output
    assert "Traceback" in (tmp_path / "logs" / "d" / "manifest.log").read_text()


def test_an_edited_label_table_rebuilds_the_manifest(tmp_path):
    root = tmp_path / "data"
    write_tone(root / "a.wav", 1.5, 12000)
    write_tone(root / "b.wav", 1.5, 12000)
    (root / "t.csv").write_text("path,label\na.wav,x\nb.wav,y\n")
    write_config(tmp_path, datasets={"d": {"type": "csv", "root": "data", "table": "t.csv", "columns": {"label": "label"}}},
                 models={}, extractors={}, features={"datasets": []}, tasks={}, tagging=None)
    assert run_snakemake(tmp_path, "--cores", "1", "results/d/manifest.parquet").returncode == 0
    assert "Nothing to be done" in run_snakemake(tmp_path, "-n", "results/d/manifest.parquet").stdout
    time.sleep(1.1)  # a later modification time than the manifest's
    (root / "t.csv").write_text("path,label\na.wav,y\nb.wav,y\n")  # a corrected label; the root's mtime stays
    dry = run_snakemake(tmp_path, "-n", "results/d/manifest.parquet")
    assert "rule manifest" in dry.stdout and "data/t.csv" in dry.stdout, dry.stdout[-2000:]


def test_results_folder_keeps_two_experiments_apart(tmp_path):
    """With results: <folder>, every output, log and benchmark of the config goes under it
    (the authors' converted models and their features too)."""
    shared_file(CHOI2017 / "weights_transfer" / "weights_theano.hdf5")
    shared_file(CHOI2017 / "keras2_model" / "model_best.hdf5")
    write_config(tmp_path, results="runs/second")
    result = run_snakemake(tmp_path, "-n", "--forceall")
    assert result.returncode == 0, result.stderr[-2000:]
    paths = set(re.findall(r"(?:output|log|benchmark): ([^\s,]+)", result.stdout))
    assert "runs/second/summary/scores.csv" in paths and "runs/second/logs/summary/summary.log" in paths
    assert {"runs/second/models/choi2017/model.pt", "runs/second/models/choi2017_paper/model.pt",
            "runs/second/tags/choi2017.csv"} <= paths
    assert any(p.startswith("runs/second/benchmarks/") for p in paths)
    outside = {p for p in paths if not p.startswith(("runs/second/", "resources/"))}
    assert not outside, sorted(outside)[:5]


@pytest.mark.slow
def test_ingestion_end_to_end(tmp_path):
    """Tiny datasets of both generic types, with a bad file, through every ingestion rule."""
    data = tmp_path / "data"
    for cls in ("a", "b"):
        for i, suffix in enumerate([".wav", ".flac"]):
            write_tone(data / "folders" / cls / f"{cls}{i}{suffix}", 1.5, 22050 if cls == "a" else 16000, freq=300 + 200 * i)
    write_tone(data / "table" / "x.ogg", 2.5, 44100)
    write_tone(data / "table" / "y.wav", 1.2, 8000)
    (data / "table" / "broken.wav").write_text("oops")
    pd.DataFrame({"path": ["x.ogg", "y.wav", "broken.wav"], "score": [0.1, 0.2, 0.3], "fold": [1, 2, 1]}).to_csv(
        data / "table" / "t.csv", index=False)
    write_config(
        tmp_path,
        models={}, extractors={}, features={"datasets": []}, tasks={}, tagging=None,
        frontend={"sample_rate": 12000, "n_fft": 512, "hop_length": 256, "n_mels": 64, "f_min": 0.0, "f_max": 6000.0, "duration": 2.0},
        datasets={
            "folders": {"type": "folder_per_class", "root": str(data / "folders"), "n_shards": 2},
            "table": {"type": "csv", "root": str(data / "table"), "table": "t.csv", "columns": {"fold": "fold"}, "targets": ["score"]},
        },
    )
    result = run_snakemake(tmp_path, "--cores", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    out = tmp_path / "results"
    folders = json.loads((out / "folders" / "summary.json").read_text())
    assert folders["n_clips"] == 4 and folders["n_rejected"] == 0 and folders["shape"] == [64, 94]
    assert MelTable(folders["mel_shards"] and [tmp_path / p for p in folders["mel_shards"]]).index()["clip_id"].tolist() == [
        "a/a0", "a/a1", "b/b0", "b/b1"]
    table = json.loads((out / "table" / "summary.json").read_text())
    assert table["n_clips"] == 3 and table["n_rejected"] == 1 and table["label_kind"] == "regression"
    rejected = pd.read_csv(out / "table" / "rejected.csv")
    assert rejected["clip_id"].tolist() == ["broken"] and rejected["reason"][0].startswith("not decodable audio")
    assert (tmp_path / "logs" / "table" / "mel" / "melspec-000.log").read_text().count("rejected") >= 1
    assert pq.read_table(out / "table" / "manifest.parquet").num_rows == 3

    # Strict mode: the same bad file now stops the run, naming it; computed results stay.
    config = yaml.safe_load((tmp_path / "config" / "config.yaml").read_text())
    config["fail_on_bad_audio"] = True
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(tmp_path, "--cores", "2", "results/table/summary.json")
    assert result.returncode != 0
    log = (tmp_path / "logs" / "table" / "mel" / "melspec-000.log").read_text()
    assert "broken.wav" in log and "fail_on_bad_audio: false" in log
    assert (out / "folders" / "summary.json").exists()


def test_demo_corpus_is_deterministic(tmp_path):
    from mirtransfer.demo import TAGS, make_corpus

    for name in ("one", "two"):
        make_corpus(tmp_path / name, seed=7, n_source=20, n_target=8, clip_seconds=1.5)
    files = sorted(p.relative_to(tmp_path / "one") for p in (tmp_path / "one").rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(tmp_path / "two") for p in (tmp_path / "two").rglob("*") if p.is_file())
    for rel in files:
        assert (tmp_path / "one" / rel).read_bytes() == (tmp_path / "two" / rel).read_bytes(), rel
    suffixes = {p.suffix for p in files}
    assert {".wav", ".flac"} <= suffixes
    tags = pd.read_csv(tmp_path / "one" / "tags" / "tags.csv")
    assert len(tags) == 20 and set(";".join(tags["tags"]).split(";")) <= set(TAGS)
    assert set(tags["split"]) == {"train", "valid", "test"}
    styles = sorted(p.name for p in (tmp_path / "one" / "genre").iterdir() if p.is_dir())
    assert styles == ["ambient", "ballad", "chamber", "dance"]
    voice = pd.read_csv(tmp_path / "one" / "voice" / "voice.csv")
    assert set(voice["vocal"]) == {"vocal", "instrumental"} and set(voice["fold"]) == {1, 2, 3, 4}
    tempo = pd.read_csv(tmp_path / "one" / "tempo" / "tempo.csv")
    assert tempo["tempo"].between(0.3, 0.9).all() and tempo["pitch"].between(36 / 127, 84 / 127).all()


@pytest.mark.slow
def test_demo_pipeline_small(tmp_path, choi2017_hdf5, paper_hdf5):
    """The default config, narrowed: demo corpus, training, the authors' convnets and features; then single targets."""
    write_config(
        tmp_path,
        frontend={"sample_rate": 12000, "n_fft": 512, "hop_length": 256, "n_mels": 48, "f_min": 0.0, "f_max": 6000.0, "duration": 2.0},
        demo={"root": "resources/demo", "seed": 5, "n_source": 60, "n_target": 20, "clip_seconds": 2.0},
        models={"convnet": {"type": "train", "dataset": "demo_tags", "n_tags": 12, "epochs": 2, "batch_size": 8},
                "choi2017": {"type": "choi2017", "path": str(choi2017_hdf5), "duration": 7.0},
                "choi2017_paper": {"type": "choi2017_paper", "path": str(paper_hdf5), "duration": 28.0}},
        tagging={"model": "choi2017", "paths": ["resources/demo/genre"], "top_k": 2, "duration": 29.0},
        tasks={"genre": {"dataset": "demo_genre", "target": "label", "kind": "classification", "protocol": "kfold", "n_folds": 5},
               "voice": {"dataset": "demo_voice", "target": "label", "kind": "classification", "protocol": "predefined_folds"},
               "tempo": {"dataset": "demo_tempo", "target": "tempo", "kind": "regression", "protocol": "kfold", "n_folds": 4}},
        evaluation={"mode": "paper", "feature_sets": ["convnet:12345", "convnet:5", "random:5", "mfcc", "mfcc+convnet:12345",
                                                      "choi2017:12345", "choi2017_paper:12345"]},
    )
    result = run_snakemake(tmp_path, "--cores", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    for dataset in ("demo_genre", "demo_voice", "demo_tempo"):
        for extractor in ("convnet", "random", "choi2017", "choi2017_paper"):
            for layer in range(1, 6):
                assert (tmp_path / "results" / dataset / "features" / extractor / f"layer{layer}.parquet").exists()
    assert (tmp_path / "results" / "models" / "convnet" / "metrics.json").exists()
    # The authors' convnet reads spectrograms made with its own (kapre) front end, pooled before max-pooling.
    _, meta = read_features(tmp_path / "results" / "demo_genre" / "features" / "choi2017" / "layer5.parquet")
    assert meta["frontend"]["padding"] == "same" and meta["frontend"]["duration"] == 7.0 and meta["pooling"] == "pre"
    assert meta["excerpts"]["pad"] == "repeat" and meta["model"]["source"]["type"] == "choi2017"
    # The paper's network: its own front end, every batch normalised with its own statistics.
    _, meta = read_features(tmp_path / "results" / "demo_genre" / "features" / "choi2017_paper" / "layer5.parquet")
    assert meta["frontend"]["flip_frames"] and meta["frontend"]["duration"] == 28.0 and meta["pooling"] == "post"
    assert meta["normalisation"]["batch_dependent"] and meta["model"]["source"]["type"] == "choi2017_paper"
    tags = pd.read_csv(tmp_path / "results" / "tags" / "choi2017.csv")
    assert len(tags) == 2 * tags["path"].nunique() > 0 and tags["padded"].all()
    scores = pd.read_csv(tmp_path / "results" / "summary" / "scores.csv")
    assert len(scores) == 21 and set(scores["task"]) == {"genre", "voice", "tempo"}
    assert scores.loc[scores["task"] != "tempo", "score"].between(0, 1).all()
    # Every cell has its 95% interval and its paired comparisons with the task's best and with mfcc.
    assert (scores["ci95_low"] <= scores["score"]).all() and (scores["score"] <= scores["ci95_high"]).all()
    best = scores.loc[scores.groupby("task")["score"].idxmax()]
    assert (best["p_vs_best"] == 1.0).all() and not best["distinguishable_from_best"].any()
    assert scores["p_vs_mfcc"].between(0, 1).all() and (scores.loc[scores["feature_set"] == "mfcc", "diff_vs_mfcc"] == 0).all()
    # Bounded fits: every cell says how many fits went to the primal solver or stopped at the cap.
    assert (scores["primal_fits"] >= 0).all() and (scores["capped_fits"] == 0).all() and not scores["chosen_capped"].any()
    figures = sorted(p.name for p in (tmp_path / "results" / "summary" / "figures").glob("*.png"))
    assert figures == ["layers_choi2017.png", "layers_choi2017_paper.png", "layers_convnet.png", "layers_random.png",
                       "scores_genre.png", "scores_tempo.png", "scores_voice.png"]
    assert run_snakemake(tmp_path, "--report", "results/report.html").returncode == 0
    assert (tmp_path / "results" / "report.html").stat().st_size > 10000

    # A single target rebuilds only what it needs: the random features need no training.
    target = "results/demo_genre/features/random/layer3.parquet"
    dry = run_snakemake(tmp_path, "-n", "--forceall", target)
    jobs = dry.stdout + dry.stderr
    assert dry.returncode == 0 and "features" in jobs and "rule train" not in jobs and "demo_voice" not in jobs
    dry = run_snakemake(tmp_path, target, "-n", "--forcerun", "features", "--quiet", "rules")
    assert dry.returncode == 0 and "features" in dry.stdout and "train" not in dry.stdout, dry.stdout

    # The figures redraw alone.
    dry = run_snakemake(tmp_path, "results/summary/scores.csv", "-n", "--forcerun", "summary", "--quiet", "rules")
    assert dry.returncode == 0 and "summary" in dry.stdout and "score " not in dry.stdout, dry.stdout

    # Nothing to do after a complete run; a changed extractor seed reruns only its features.
    assert "Nothing to be done" in run_snakemake(tmp_path, "-n").stdout
    config = yaml.safe_load((tmp_path / "config" / "config.yaml").read_text())
    config["extractors"]["random"]["seed"] = 9
    config["tasks"]["genre"]["n_folds"] = 4  # a task edit: its cells again, not its dataset's manifest
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    dry = run_snakemake(tmp_path, "-n", "--quiet", "rules")
    lines = dry.stdout.splitlines()
    counts = {line.split()[0]: int(line.split()[1]) for line in lines if len(line.split()) == 2 and line.split()[1].isdigit()}
    # 3 feature jobs, then the 3 tasks' score jobs (each task's cells in one job, random:5 among them), then the summary.
    assert counts.get("features") == 3 and counts.get("score_task") == 3 and counts.get("summary") == 1, dry.stdout
    assert not {"manifest", "train", "melspec", "mfcc"} & set(counts), dry.stdout

    # One task's table.
    assert run_snakemake(tmp_path, "--cores", "1", "results/scores/genre.csv").returncode == 0
    assert len(pd.read_csv(tmp_path / "results" / "scores" / "genre.csv")) == 7

    # One score cell rebuilds alone, in a job of its own with evaluation.jobs: cell, beside the
    # task's other cells; a cell outside the configured sets always has a job of its own.
    cell = "results/scores/genre/convnet:5.json"
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "results/scores/genre").iterdir()}
    result = run_snakemake(tmp_path, "--cores", "1", cell, "--forcerun", "score", "--config", 'evaluation={"jobs": "cell"}')
    assert result.returncode == 0 and "rule score:" in result.stderr and "rule features" not in result.stderr, result.stderr
    after = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "results/scores/genre").iterdir()}
    assert [name for name in before if after[name] != before[name]] == ["convnet:5.json"]
    assert json.loads((tmp_path / cell).read_text())["feature_set"] == "convnet:5"
    dry = run_snakemake(tmp_path, cell, "-n", "--forcerun", "score_task", "--quiet", "rules")
    assert dry.returncode == 0 and "score_task" in dry.stdout and "features" not in dry.stdout, dry.stdout
    dry = run_snakemake(tmp_path, "results/scores/genre/convnet:135.json", "-n", "--quiet", "rules")
    assert dry.returncode == 0 and "score " in dry.stdout and "score_task" not in dry.stdout, dry.stdout


@pytest.mark.skipif(shutil.which("dot") is None and (os.geteuid() != 0 or shutil.which("apt-get") is None),
                    reason="graphviz is missing and cannot be installed here (not root, or no apt-get)")
def test_make_dag_draws_the_dag_and_rule_graph(tmp_path):
    result = subprocess.run(["make", "-C", str(REPO), "dag", f"DAG_DIR={tmp_path}"],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    for name in ("dag.svg", "rulegraph.svg"):
        svg = (tmp_path / name).read_text()
        assert svg.lstrip().startswith("<?xml") and "<svg" in svg
    assert "melspec" in (tmp_path / "rulegraph.svg").read_text()
    # A config whose DAG cannot be built (its datasets are missing) fails, and leaves no picture.
    failed = subprocess.run(["make", "-C", str(REPO), "dag", f"DAG_DIR={tmp_path / 'paper'}", "CONFIGFILE=config/paper.yaml"],
                            capture_output=True, text=True, timeout=900)
    assert failed.returncode != 0 and "are missing" in failed.stdout + failed.stderr
    assert not (tmp_path / "paper" / "dag.svg").exists()


def test_choi2017_model_download_and_conversion(tmp_path, choi2017_hdf5):
    """No local path: the model is fetched from its URL, checked, converted; a wrong sha256 keeps nothing."""
    url = choi2017_hdf5.as_uri()
    write_config(tmp_path, models={"c": {"type": "choi2017", "url": url, "sha256": "0" * 64}},
                 extractors={}, features={"datasets": []}, tasks={}, tagging=None)
    config = yaml.safe_load((tmp_path / "config" / "config.yaml").read_text())
    target = "results/models/c/model.json"
    result = run_snakemake(tmp_path, "--cores", "1", target)
    assert result.returncode != 0
    log = (tmp_path / "logs" / "models" / "c" / "download.log").read_text()
    assert (f"sha256 {sha256(choi2017_hdf5)} differs from the expected {'0' * 64}; the file was not kept: "
            "check models.c.url, or set models.c.sha256") in log
    assert not list((tmp_path / "resources").rglob("*.hdf5"))
    config["models"]["c"]["sha256"] = sha256(choi2017_hdf5)
    (tmp_path / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    result = run_snakemake(tmp_path, "--cores", "1", target)
    assert result.returncode == 0, result.stderr[-3000:]
    spec = json.loads((tmp_path / target).read_text())
    assert spec["source"]["type"] == "choi2017" and len(spec["tags"]) == 50 and spec["input_norm"] == "sample"


def test_optional_model_missing_is_left_out(tmp_path):
    write_config(tmp_path, models={**yaml.safe_load((REPO / "config" / "config.yaml").read_text())["models"],
                                   "choi2017": {"type": "choi2017", "path": "nowhere/model_best.hdf5", "optional": True}})
    result = run_snakemake(tmp_path, "-n", "--quiet", "rules")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "models.choi2017: nowhere/model_best.hdf5 does not exist" in result.stdout + result.stderr
    assert "choi2017_convert" not in result.stdout and "tag " not in result.stdout


def test_jobs_import_the_package_from_the_checkout_without_an_install(tmp_path):
    """A Python that has the dependencies but not the package (as the conda environment of
    envs/, which cannot install it) runs the workflow: the Snakefile puts src/ on the path
    of Snakemake and of every job's script."""
    venv.create(tmp_path / "env", with_pip=False)
    python = tmp_path / "env" / "bin" / "python"
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    absent = subprocess.run([python, "-c", "import mirtransfer"], capture_output=True, text=True, env=clean)
    assert absent.returncode != 0 and "No module named 'mirtransfer'" in absent.stderr
    config = write_config(tmp_path)
    demo_root = str(tmp_path / "demo")
    text = (tmp_path / "config" / "config.yaml").read_text().replace(config["demo"]["root"], demo_root)
    (tmp_path / "config" / "config.yaml").write_text(text)
    run = subprocess.run([python, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--directory", str(tmp_path),
                          "--cores", "2", "results/demo_genre/manifest.parquet"],
                         capture_output=True, text=True, env=clean, timeout=600)
    assert run.returncode == 0, (run.stdout + run.stderr)[-3000:]
    assert (tmp_path / "results" / "demo_genre" / "manifest.parquet").is_file()
