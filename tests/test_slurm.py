"""The workflow through a real SLURM: profiles/slurm on a single-node cluster started here.

tests/cluster/start_slurm.sh installs Debian's SLURM where missing and starts it with two
fake GPUs. The test runs a small demo config through `--profile profiles/slurm`, checks
that every job went through SLURM and that exactly the training and extraction jobs asked
for a GPU, then runs the same config locally and compares the scores. It is skipped only
where the machine cannot run SLURM (not root, or no apt-get and no SLURM installed).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time

import pandas as pd
import pytest

from conftest import REPO, SNAKEMAKE, write_config

CLUSTER = REPO / "tests" / "cluster"


def _cannot_run_slurm() -> str | None:
    if os.geteuid() != 0:
        return "not root: the test starts SLURM daemons"
    if not shutil.which("apt-get") and not shutil.which("slurmctld"):
        return "neither SLURM nor apt-get to install it"
    return None


@pytest.fixture(scope="module")
def slurm():
    """A running single-node cluster: reuse one that is up, else start (and later stop) one."""
    reason = _cannot_run_slurm()
    if reason:
        print(f"SLURM test skipped: {reason}")
        pytest.skip(reason)
    up = shutil.which("sinfo") and subprocess.run(["sinfo", "-h", "-o", "%t"], capture_output=True, text=True).stdout.strip() == "idle"
    state = None
    if not up:
        t0 = time.perf_counter()
        started = subprocess.run(["bash", str(CLUSTER / "start_slurm.sh")], capture_output=True, text=True, timeout=600)
        assert started.returncode == 0, started.stdout + started.stderr
        state = started.stdout.strip().splitlines()[-1]
        print(f"SLURM started in {time.perf_counter() - t0:.1f} s")
    yield
    if state:
        subprocess.run(["bash", str(CLUSTER / "stop_slurm.sh"), state], timeout=60)


def small_config(workdir):
    write_config(
        workdir,
        frontend={"sample_rate": 12000, "n_fft": 512, "hop_length": 256, "n_mels": 48, "f_min": 0.0, "f_max": 6000.0, "duration": 2.0},
        demo={"root": "resources/demo", "seed": 5, "n_source": 60, "n_target": 20, "clip_seconds": 2.0},
        datasets={
            "demo_tags": {"type": "csv", "root": "resources/demo/tags", "table": "tags.csv",
                          "columns": {"path": "path", "tags": "tags", "split": "split"}, "tag_separator": ";"},
            "demo_genre": {"type": "folder_per_class", "root": "resources/demo/genre"},
        },
        models={"convnet": {"dataset": "demo_tags", "n_tags": 12, "epochs": 2, "batch_size": 8}},
        extractors={"convnet": {"model": "convnet", "weights": "trained"}},
        features={"datasets": ["demo_genre"]},
        tasks={"genre": {"dataset": "demo_genre", "target": "label", "kind": "classification", "protocol": "kfold", "n_folds": 5}},
        evaluation={"mode": "paper", "feature_sets": ["convnet:12345", "convnet:5"]},
        tagging=None,
    )


def slurm_jobs() -> list[dict[str, str]]:
    """Every job the controller remembers (MinJobAge keeps finished ones), as key=value fields."""
    out = subprocess.run(["scontrol", "show", "job", "-o"], capture_output=True, text=True).stdout
    return [dict(re.findall(r"(\w+)=(\S*)", line)) for line in out.splitlines() if line.startswith("JobId=")]


@pytest.mark.slow
def test_workflow_runs_through_slurm(slurm, tmp_path):
    before = {job["JobId"] for job in slurm_jobs()}
    cluster_dir, local_dir = tmp_path / "cluster", tmp_path / "local"
    small_config(cluster_dir)
    small_config(local_dir)
    t0 = time.perf_counter()
    run = subprocess.run(
        ["timeout", "-s", "INT", "-k", "60", "1200", *SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(cluster_dir),
         "--profile", str(REPO / "profiles" / "slurm"), "--workflow-profile", "none", "--latency-wait", "5"],
        capture_output=True, text=True, cwd=tmp_path,
    )
    print(f"workflow through SLURM: {time.perf_counter() - t0:.1f} s")
    log = run.stdout + run.stderr
    assert run.returncode == 0, log[-4000:]

    jobs = [job for job in slurm_jobs() if job["JobId"] not in before]
    submitted = dict(re.findall(r"Job (\S+) has been submitted with SLURM jobid (\d+)", log))
    finished = re.findall(r"Finished jobid: (\S+) \(Rule: (\w+)\)", log)
    total = int(re.search(r"^total +(\d+)$", log, re.MULTILINE)[1])
    assert len(finished) == total, log[-4000:]
    ran_here = {rule for job_id, rule in finished if job_id not in submitted}
    assert ran_here == {"all"}, f"jobs run outside SLURM: {sorted(ran_here)}"
    assert set(submitted.values()) == {job["JobId"] for job in jobs}, (submitted, [job["JobId"] for job in jobs])
    rules = {}
    for job in jobs:
        assert job["JobState"] == "COMPLETED", job
        rule = re.match(r"rule_([A-Za-z0-9]+(?:_[a-z]+)*?)(?:_wildcards_|$)", job["Comment"])
        rules.setdefault(rule[1] if rule else job["Comment"], []).append(job)
    gpu_rules = {name for name, js in rules.items() if any("gpu" in j.get("TresPerJob", "") + j.get("TresPerNode", "") for j in js)}
    assert gpu_rules == {"train", "features"}, {n: [j.get("TresPerJob") for j in js] for n, js in rules.items()}
    assert {"demo_corpus", "manifest", "melspec", "train", "features", "summary"} <= set(rules), sorted(rules)

    local = subprocess.run([*SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(local_dir), "--cores", "2"],
                           capture_output=True, text=True, cwd=tmp_path)
    assert local.returncode == 0, local.stderr[-3000:]
    on_cluster = pd.read_csv(cluster_dir / "results" / "summary" / "scores.csv")
    on_laptop = pd.read_csv(local_dir / "results" / "summary" / "scores.csv")
    pd.testing.assert_frame_equal(on_cluster.drop(columns=["seconds"]), on_laptop.drop(columns=["seconds"]))
