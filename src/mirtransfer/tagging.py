"""Tag audio files with a saved model: the top-k tags and their probabilities, to CSV.

A quick check that a model's weights do what they claim (for instance the authors'
MSD convnet converted by :mod:`mirtransfer.convert`). Each file is decoded,
resampled and cut into consecutive excerpts of the model's length (at most
``max_excerpts``); the tag probabilities are averaged over the excerpts, each weighted by
the share of it that is audio (a short tail excerpt barely counts). A file or tail shorter
than one excerpt is zero-padded, and the CSV's ``padded`` says so. The paper's network
(batch-statistics batch norm) is normalised with the statistics of all the excerpts
tagged together, so its tags depend on which files are tagged in one run.

Command line: ``python -m mirtransfer.tagging results/models/choi2017 song.mp3 folder/ -k 5 -o tags.csv``
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from mirtransfer.audio import SUPPORTED_SUFFIXES, AudioError, audio_files_below, load_mono
from mirtransfer.errors import UserError
from mirtransfer.files import atomic_path
from mirtransfer.frontend import ExcerptPolicy
from mirtransfer.logmel import LogMel
from mirtransfer.excerpts import Resampler
from mirtransfer.model import ConvNet, device_for, float32_convolutions, group_statistics, load_model
from mirtransfer.modelspec import check_excerpt


def audio_files(paths: Iterable[str | Path]) -> list[Path]:
    """The files given, and the audio files under the folders given (sorted)."""
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            files += audio_files_below(p)
        elif p.exists():
            files.append(p)
        else:
            raise FileNotFoundError(f"{p}: no such file or folder to tag")
    if not files:
        raise FileNotFoundError(f"no audio file ({', '.join(SUPPORTED_SUFFIXES)}) in {[str(p) for p in paths]}")
    return files


def tag_files(
    model: ConvNet,
    paths: Iterable[str | Path],
    *,
    top_k: int = 5,
    max_excerpts: int = 4,
    device: torch.device | None = None,
    logger: logging.Logger | None = None,
) -> pd.DataFrame:
    """One row per (file, rank): path, rank, tag, probability, excerpts, padded, error.

    Files that cannot be decoded are listed with an empty tag and the reason in ``error``.
    """
    log = logger or logging.getLogger("mirtransfer")
    device = device or device_for()
    model = model.to(device).eval()
    frontend = model.spec.frontend
    check_excerpt(model.spec, "post", "the model's tag head")
    policy = ExcerptPolicy(policy="all", pad="zero", max_count=max_excerpts, min_duration=min(frontend.duration, 1.0))
    resample = Resampler(frontend.sample_rate)
    logmel = LogMel(frontend).to(device)
    rows: list[dict] = []

    def decoded() -> Iterator[tuple[Path, torch.Tensor, np.ndarray]]:
        """Each decodable file's excerpts as log-mel (excerpts, 1, mels, frames) and the share of
        each excerpt that is audio (the rest is padding); errors become rows."""
        for path in audio_files(paths):
            try:
                wave, rate = load_mono(path, max_seconds=frontend.duration * max_excerpts + 1.0)
            except AudioError as err:
                log.warning("%s: skipped (%s)", path, err)
                rows.append({"path": str(path), "rank": 0, "tag": "", "probability": float("nan"), "error": str(err)})
                continue
            wave = resample(wave, rate)
            excerpts = policy.split(wave, frontend)
            n = frontend.n_samples
            audio = np.clip((len(wave) - n * np.arange(len(excerpts))) / n, 0.0, 1.0)
            with torch.inference_mode():
                mel = logmel(torch.from_numpy(np.stack(excerpts)).to(device)).unsqueeze(1)
            yield path, mel, audio

    items: Iterable[tuple[Path, torch.Tensor, np.ndarray]] = decoded()
    stats = None
    if model.spec.batch_statistics:
        # The paper's network normalises with batch statistics: take them over every excerpt
        # tagged together, each excerpt's dB relative to its own maximum.
        items = list(items)
        if items:
            with torch.inference_mode(), float32_convolutions():
                stats = group_statistics(model, lambda: (mel for _, mel, _ in items), db_scope="clip")
        log.info("batch statistics over the %d excerpts of %d files", sum(len(m) for _, m, _ in items), len(items))
    for path, mel, audio in items:
        with torch.inference_mode(), float32_convolutions():
            per_excerpt = torch.sigmoid(model(mel, stats=stats)).cpu().numpy()
        # Each excerpt weighs by its audio: a tail of 1 s and 28 s of padding counts 1/29.
        probs = (audio[:, None] * per_excerpt).sum(0) / audio.sum()
        for rank, k in enumerate(np.argsort(-probs)[:top_k], start=1):
            rows.append({"path": str(path), "rank": rank, "tag": model.spec.tags[k], "probability": float(probs[k]),
                         "excerpts": len(mel), "padded": bool((audio < 1).any()), "error": ""})
        log.info("%s: %s", path.name, ", ".join(f"{model.spec.tags[k]} {probs[k]:.2f}" for k in np.argsort(-probs)[:top_k]))
    return pd.DataFrame(rows, columns=["path", "rank", "tag", "probability", "excerpts", "padded", "error"])


def load_for_tagging(weights: str | Path, spec: str | Path, duration: float | None = None) -> ConvNet:
    """A saved model, its excerpt length set to ``duration`` seconds (None: the model's own)."""
    model = load_model(weights, spec)
    if duration is not None:
        model.spec.frontend = dataclasses.replace(model.spec.frontend, duration=float(duration))
    return model


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model_dir", help="folder with model.pt and model.json (e.g. results/models/choi2017)")
    parser.add_argument("paths", nargs="+", help="audio files or folders")
    parser.add_argument("-k", "--top-k", type=int, default=5)
    parser.add_argument("--max-excerpts", type=int, default=4, help="consecutive excerpts per file at most (default 4)")
    parser.add_argument("--duration", type=float, default=None,
                        help="excerpt seconds (default: the model's; the authors' convnet needs at least 27.3 for tags)")
    parser.add_argument("-o", "--output", default="-", help="CSV file (default: standard output)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    model_dir = Path(args.model_dir)
    if not (model_dir / "model.json").is_file():
        sys.exit(f"mirtransfer.tagging: {model_dir} holds no model.json and model.pt; give a folder such as "
                 "results/models/<name>")
    try:
        model = load_for_tagging(model_dir / "model.pt", model_dir / "model.json", args.duration)
        table = tag_files(model, args.paths, top_k=args.top_k, max_excerpts=args.max_excerpts)
    except (UserError, FileNotFoundError) as err:
        sys.exit(f"mirtransfer.tagging: {err}")
    if args.output == "-":
        print(table.to_csv(index=False), end="")
    else:
        with atomic_path(args.output) as tmp:
            table.to_csv(tmp, index=False)


if __name__ == "__main__":
    main()
