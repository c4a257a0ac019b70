"""Shared fixtures: tiny audio files and dataset layouts in temporary folders."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import yaml

REPO = Path(__file__).resolve().parents[1]
SNAKEMAKE = [sys.executable, "-m", "snakemake"]


def tone(seconds: float, sr: int, freq: float = 440.0, channels: int = 1, amp: float = 0.5) -> np.ndarray:
    """A sine (plus a little noise), shape (frames, channels), float32."""
    t = np.arange(int(seconds * sr)) / sr
    x = amp * np.sin(2 * np.pi * freq * t) + 0.01 * np.random.default_rng(int(freq)).standard_normal(len(t))
    return np.repeat(x[:, None], channels, axis=1).astype(np.float32)


def write_tone(path: Path, seconds: float = 2.0, sr: int = 22050, **kwargs) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = {".au": "AU", ".mp3": "MP3", ".ogg": "OGG"}.get(path.suffix)
    sf.write(path, tone(seconds, sr, **kwargs), sr, format=fmt)
    return path


def truncate(path: Path) -> Path:
    """Cut a file to half its bytes, as an interrupted copy would."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


@pytest.fixture
def bad_files(tmp_path: Path) -> dict[str, Path]:
    """One file of each kind of bad input, keyed by the reason's first word."""
    files = {
        "file": tmp_path / "missing.wav",
        "empty": tmp_path / "empty.wav",
        "not": tmp_path / "text.wav",
        "truncated": truncate(write_tone(tmp_path / "cut.flac", 3.0)),
        "silent": tmp_path / "silent.wav",
        "too": write_tone(tmp_path / "short.wav", 0.3),
    }
    files["empty"].write_bytes(b"")
    files["not"].write_text("this is not audio\n")
    sf.write(files["silent"], np.zeros(22050 * 2, dtype=np.float32), 22050)
    return files


def run_snakemake(workdir: Path, *args: str, timeout: int = 900, without_torch: bool = False) -> subprocess.CompletedProcess:
    """Run the repository's Snakefile in ``workdir`` (which holds config/config.yaml).

    without_torch: a torch that fails to import comes first on PYTHONPATH (for dry runs:
    building the DAG must not import torch).
    """
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if without_torch:
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO / "tests" / "no_torch"), env.get("PYTHONPATH")]))
    return subprocess.run(
        [*SNAKEMAKE, "-s", str(REPO / "Snakefile"), "--directory", str(workdir), *args],
        capture_output=True, text=True, timeout=timeout, env=env,
    )


CHOI2017 = REPO.parent / "shared" / "choi2017"


def shared_file(path: Path) -> Path:
    """A file of ../shared/choi2017: fail in CI when it is missing, skip elsewhere."""
    if not path.exists():
        message = f"reference file missing: expected {path} (the authors' artefacts beside the repository)"
        if os.environ.get("CI", "").lower() not in ("", "0", "false", "no"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def choi2017_hdf5() -> Path:
    """The authors' trained Keras convnet."""
    return shared_file(CHOI2017 / "keras2_model" / "model_best.hdf5")


@pytest.fixture(scope="session")
def paper_hdf5() -> Path:
    """The paper's own Keras-1/Theano convnet (the whole network)."""
    return shared_file(CHOI2017 / "weights_transfer" / "weights_theano.hdf5")


def write_config(workdir, **changes):
    """The default config with some sections replaced (None removes a section). Its models'
    paths (relative to the repository, ../shared/choi2017/...) are made absolute, so the
    authors' models stay in the run from the temporary folder."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for model in config["models"].values():
        if "path" in model:
            model["path"] = str((REPO / model["path"]).resolve())
    config.update(changes)
    config = {key: value for key, value in config.items() if value is not None}
    (workdir / "config").mkdir(parents=True, exist_ok=True)
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config))
    return config
