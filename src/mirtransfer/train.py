"""Train the convnet on a multi-label tagging source task.

Binary cross-entropy, Adam, mini-batches streamed from the Parquet shards (row
groups shuffled, then rows shuffled within a window of row groups), early stopping
on the validation macro ROC-AUC, and a checkpoint every epoch: an interrupted run
resumes from its last checkpoint and ends with the same weights as an
uninterrupted one, because the data order and the initialisation depend on the
seed and the epoch alone.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.metrics import average_precision_score, roc_auc_score
from tqdm import tqdm

from mirtransfer.errors import UserError
from mirtransfer.files import atomic_path, sha256, write_json
from mirtransfer.manifest import ManifestError, read_manifest
from mirtransfer.meltable import MelTable, mel_tensor, to_device
from mirtransfer.model import ConvNet, build_model, compile_on_cuda, device_for, save_model
from mirtransfer.modelspec import ModelSpec


@dataclass(frozen=True)
class TrainConfig:
    """Training hyper-parameters (config: models.<name>)."""

    n_tags: int = 50
    epochs: int = 100
    patience: int = 5
    batch_size: int = 32
    learning_rate: float = 5e-3
    seed: int = 0
    channels: int = 32
    input_norm: str = "batchnorm"
    shuffle_window: int = 8  # row groups mixed together when shuffling
    amp: bool = True  # bf16 autocast and channels-last on CUDA; ignored on CPU
    compile: bool = True  # torch.compile on CUDA; ignored on CPU

    def digest(self) -> str:
        """A hash of everything that changes the trained weights (not the epoch budget, nor compiling,
        which reorders floating-point work only)."""
        relevant = {k: v for k, v in asdict(self).items() if k not in ("epochs", "patience", "compile")}
        return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


def tag_vocabulary(tags: pd.Series, n_tags: int) -> list[str]:
    """The n_tags most frequent tags (ties broken alphabetically), as the paper's top-50."""
    counts = pd.Series([t for row in tags for t in row]).value_counts()
    if counts.empty:
        raise ManifestError("the source dataset has no tags in its train split; give its table a tags column "
                            "(datasets.<name>.columns.tags for a csv dataset)")
    ordered = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return [t for t, _ in ordered[:n_tags]]


def multi_hot(tags: pd.Series, vocabulary: list[str]) -> np.ndarray:
    """(clips, tags) float32 matrix of 0/1."""
    index = {t: i for i, t in enumerate(vocabulary)}
    y = np.zeros((len(tags), len(vocabulary)), dtype=np.float32)
    for row, clip_tags in enumerate(tags):
        for t in clip_tags:
            if t in index:
                y[row, index[t]] = 1.0
    return y


class SplitStream:
    """Batches (mel, targets, clip_ids) of one split, streamed from a MelTable's row groups."""

    def __init__(self, table: MelTable, targets: dict[str, np.ndarray], batch_size: int, window: int = 8) -> None:
        self.table = table
        self.targets = targets
        self.batch_size = batch_size
        self.window = window
        self.groups = [g for g, ids in table.row_group_ids().items() if any(c in targets for c in ids)]

    def _window(self, groups: list[tuple[int, int]], rng: np.random.Generator | None) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """The split's rows of a window of row groups, shuffled when ``rng`` is given, gathered into one array.

        The row groups are views of the file (MelTable.read_row_group); gathering the
        split's rows in their shuffled order is the one copy of the spectrograms.
        """
        rows, ids = [], []  # the split's rows, each a view of one spectrogram
        for g in groups:
            batch = self.table.read_row_group(*g)
            for mel, clip in zip(batch.mel, batch.clip_ids):
                if clip in self.targets:
                    rows.append(mel)
                    ids.append(clip)
        order = rng.permutation(len(ids)) if rng is not None else np.arange(len(ids))
        mel = np.stack([rows[j] for j in order])
        ids = [ids[j] for j in order]
        return mel, np.stack([self.targets[c] for c in ids]), ids

    def epoch(self, rng: np.random.Generator | None = None) -> Iterator[tuple[np.ndarray, np.ndarray, list[str]]]:
        """One pass; shuffled when ``rng`` is given, in table order otherwise.

        Row groups are shuffled, then the rows within each window of ``window`` row groups;
        batches run on across windows. The next window is gathered by a background thread
        while the current one is consumed (numpy's copies release the GIL), so reading
        overlaps with training steps.
        """
        groups = list(self.groups)
        if rng is not None:
            groups = [groups[i] for i in rng.permutation(len(groups))]
        windows = [groups[start : start + self.window] for start in range(0, len(groups), self.window)]
        size = self.batch_size
        carry: tuple[np.ndarray, np.ndarray, list[str]] | None = None
        with ThreadPoolExecutor(max_workers=1) as pool:  # one thread: the windows draw from rng in order
            upcoming = pool.submit(self._window, windows[0], rng) if windows else None
            for k in range(len(windows)):
                assert upcoming is not None
                mel, y, ids = upcoming.result()
                if k + 1 < len(windows):
                    upcoming = pool.submit(self._window, windows[k + 1], rng)
                start = 0
                if carry is not None:  # the last window's remainder, completed from this one
                    start = min(size - len(carry[2]), len(ids))
                    carry = (np.concatenate([carry[0], mel[:start]]), np.concatenate([carry[1], y[:start]]),
                             carry[2] + ids[:start])
                    if len(carry[2]) < size:
                        continue
                    yield carry
                    carry = None
                full = start + (len(ids) - start) // size * size
                for b in range(start, full, size):
                    yield mel[b : b + size], y[b : b + size], ids[b : b + size]
                carry = (mel[full:], y[full:], ids[full:]) if full < len(ids) else None
        if carry is not None:
            yield carry


def predict(model: ConvNet, stream: SplitStream, device: torch.device, amp: bool) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Tag probabilities per clip (averaged over its excerpts) and the clip's targets."""
    model.eval()
    probs: dict[str, list[np.ndarray]] = {}
    with torch.inference_mode(), torch.autocast(device.type, torch.bfloat16, enabled=amp and device.type == "cuda"):
        for mel, _, ids in stream.epoch():
            x = mel_tensor(mel, device)
            p = torch.sigmoid(model(x).float()).cpu().numpy()
            for cid, row in zip(ids, p):
                probs.setdefault(cid, []).append(row)
    clip_ids = sorted(probs)
    return clip_ids, np.stack([np.mean(probs[c], axis=0) for c in clip_ids]), np.stack([stream.targets[c] for c in clip_ids])


def tag_metrics(y_true: np.ndarray, y_prob: np.ndarray, tags: list[str]) -> dict[str, Any]:
    """Macro ROC-AUC and PR-AUC over the tags present and absent in the split, and per tag."""
    per_tag = {}
    for i, tag in enumerate(tags):
        positives = y_true[:, i].sum()
        if 0 < positives < len(y_true):
            per_tag[tag] = {
                "roc_auc": float(roc_auc_score(y_true[:, i], y_prob[:, i])),
                "pr_auc": float(average_precision_score(y_true[:, i], y_prob[:, i])),
                "positives": int(positives),
            }
    if not per_tag:
        return {"roc_auc": float("nan"), "pr_auc": float("nan"), "per_tag": {}, "n_clips": len(y_true)}
    return {
        "roc_auc": float(np.mean([m["roc_auc"] for m in per_tag.values()])),
        "pr_auc": float(np.mean([m["pr_auc"] for m in per_tag.values()])),
        "per_tag": per_tag,
        "n_clips": len(y_true),
    }


def _split_targets(manifest: pd.DataFrame, y: np.ndarray, split: str, available: set[str]) -> dict[str, np.ndarray]:
    rows = np.nonzero((manifest["split"] == split).to_numpy())[0]
    return {manifest["clip_id"].iat[i]: y[i] for i in rows if manifest["clip_id"].iat[i] in available}


def train_step(model: ConvNet, optimizer: torch.optim.Optimizer, mel: np.ndarray, target: np.ndarray,
               device: torch.device, amp: bool) -> torch.Tensor:
    """One optimisation step on a batch of spectrograms and multi-hot targets; returns the BCE loss.

    The loss stays on the device (no synchronisation per step).
    """
    x = mel_tensor(mel, device)
    if amp:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.autocast(device.type, torch.bfloat16, enabled=amp):
        logits = model(x).float()
    loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, to_device(torch.from_numpy(target), device))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()


@dataclass(frozen=True)
class TrainOutputs:
    """The files a training run writes (the rule's declared outputs)."""

    weights: Path
    spec: Path
    metrics: Path
    history: Path
    plot: Path


def train(
    manifest_path: str | Path,
    mel_paths: list[str | Path],
    config: TrainConfig,
    outputs: TrainOutputs,
    *,
    checkpoint_path: str | Path,
    logger: logging.Logger | None = None,
    on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
) -> dict[str, Any]:
    """Train on the manifest's train split, stop early on valid, report on test.

    Writes the weights, spec, metrics JSON, history CSV and training plot to ``outputs``.
    The checkpoint at ``checkpoint_path`` is resumed when its settings match.
    on_epoch_end(epoch, record) is called after each epoch's checkpoint is saved.
    """
    log = logger or logging.getLogger("mirtransfer")
    device = device_for()
    use_amp = config.amp and device.type == "cuda"
    manifest, meta = read_manifest(manifest_path)
    if manifest["split"].isna().all():
        raise ManifestError(f"{manifest_path}: the source dataset has no 'split' column (train/valid/test); add one to "
                            "its table")
    table = MelTable(mel_paths)
    vocabulary = tag_vocabulary(manifest.loc[manifest["split"] == "train", "tags"], config.n_tags)
    y = multi_hot(manifest["tags"], vocabulary)
    available = set(table.index()["clip_id"])
    streams = {
        split: SplitStream(table, _split_targets(manifest, y, split, available), config.batch_size, config.shuffle_window)
        for split in ("train", "valid", "test")
    }
    for split, stream in streams.items():
        if not stream.targets:
            raise ManifestError(f"{manifest_path}: no usable clip in the source dataset's '{split}' split (its splits: "
                                f"{sorted(set(manifest['split'].dropna()))}); the source needs train, valid and test clips")
    positives, n_valid = np.sum(list(streams["valid"].targets.values()), axis=0), len(streams["valid"].targets)
    if not ((positives > 0) & (positives < n_valid)).any():
        raise ManifestError(f"{manifest_path}: no tag is both present and absent among the {n_valid} valid "
                            "clips, so their ROC-AUC (early stopping) cannot be computed; add valid clips with and "
                            "without each tag")
    log.info("source %s: %d tags, train/valid/test clips %s, device %s",
             meta["dataset"], len(vocabulary), [len(s.targets) for s in streams.values()], device)

    spec = ModelSpec(table.frontend, vocabulary, channels=config.channels, input_norm=config.input_norm,
                     source={"dataset": meta["dataset"], "train": asdict(config)})
    model = build_model(spec, config.seed).to(device)
    if use_amp:
        model = model.to(memory_format=torch.channels_last)
    compile_on_cuda(model, device, config.compile)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    state = {"epoch": 0, "best_auc": -1.0, "best_epoch": 0, "bad_epochs": 0, "history": [], "best_state": None}

    checkpoint_path = Path(checkpoint_path)
    fingerprint = run_fingerprint(config, vocabulary, table, manifest_path)
    if checkpoint_path.exists():
        # On the CPU: the optimizer keeps Adam's step counts there (on the GPU each step would wait for them).
        saved = torch.load(checkpoint_path, map_location="cpu", weights_only=True)
        if saved.get("fingerprint") == fingerprint:
            model.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            state = saved["state"]
            log.info("resumed from %s after epoch %d", checkpoint_path, state["epoch"])
        else:
            aside = checkpoint_path.with_name(checkpoint_path.name + ".mismatch")
            checkpoint_path.replace(aside)
            log.warning("set %s aside as %s: it was made with other settings, front end, excerpts or data; "
                        "training starts afresh", checkpoint_path, aside)

    while state["epoch"] < config.epochs and state["bad_epochs"] < config.patience:
        epoch = state["epoch"] + 1
        t0 = time.perf_counter()
        model.train()
        losses = []
        rng = np.random.default_rng([config.seed, epoch])
        n_batches = -(-len(streams["train"].targets) // config.batch_size)
        for mel, target, _ in tqdm(streams["train"].epoch(rng), total=n_batches, desc=f"epoch {epoch}", mininterval=10, leave=False):
            if len(target) < 2:
                continue  # batch norm needs two samples
            losses.append(train_step(model, optimizer, mel, target, device, use_amp))
        _, prob, truth = predict(model, streams["valid"], device, use_amp)
        if not np.isfinite(prob).all():
            raise UserError(f"training diverged in epoch {epoch} (non-finite outputs); lower the model's learning_rate "
                            f"(now {config.learning_rate}), which starts it afresh")
        valid = tag_metrics(truth, prob, vocabulary)
        record = {"epoch": epoch, "train_loss": float(torch.stack(losses).double().mean()), "valid_roc_auc": valid["roc_auc"],
                  "valid_pr_auc": valid["pr_auc"], "seconds": time.perf_counter() - t0}
        state["history"].append(record)
        state["epoch"] = epoch
        if valid["roc_auc"] > state["best_auc"]:
            state.update(best_auc=valid["roc_auc"], best_epoch=epoch, bad_epochs=0,
                         best_state={k: v.detach().clone() for k, v in model.state_dict().items()})
        else:
            state["bad_epochs"] += 1
        with atomic_path(checkpoint_path) as tmp:
            torch.save({"fingerprint": fingerprint, "tags": vocabulary, "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(), "state": state}, tmp)
        log.info("epoch %d: loss %.4f, valid ROC-AUC %.4f, PR-AUC %.4f (%.1f s)", epoch, record["train_loss"],
                 record["valid_roc_auc"], record["valid_pr_auc"], record["seconds"])
        if on_epoch_end is not None:
            on_epoch_end(epoch, record)

    model.load_state_dict(state["best_state"])
    _, prob, truth = predict(model, streams["test"], device, use_amp)
    test = tag_metrics(truth, prob, vocabulary)
    _, prob, truth = predict(model, streams["valid"], device, use_amp)
    valid = tag_metrics(truth, prob, vocabulary)
    model = model.to(memory_format=torch.contiguous_format).cpu()
    save_model(model, outputs.weights, outputs.spec)
    metrics = {
        "source": meta["dataset"], "device": str(device), "best_epoch": state["best_epoch"],
        "epochs_run": state["epoch"], "tags": vocabulary, "test": test, "valid": valid, "config": asdict(config),
    }
    write_json(metrics, outputs.metrics)
    history = pd.DataFrame(state["history"])
    with atomic_path(outputs.history) as tmp:
        history.to_csv(tmp, index=False)
    plot_history(history, state["best_epoch"], outputs.plot)
    checkpoint_path.unlink(missing_ok=True)  # a finished run leaves nothing a later, different run could resume
    log.info("best epoch %d; test ROC-AUC %.4f, PR-AUC %.4f", state["best_epoch"], test["roc_auc"], test["pr_auc"])
    return metrics


def run_fingerprint(config: TrainConfig, vocabulary: list[str], table: MelTable, manifest_path: str | Path) -> str:
    """A hash of everything that changes the trained weights: the settings (not the epoch budget),
    the tags, the spectrograms' front end, excerpt policy and storage dtype, and the manifest's bytes."""
    relevant = {
        "config": config.digest(),
        "tags": vocabulary,
        "frontend": table.frontend.to_dict(),
        "excerpts": table.excerpts.to_dict(),
        "dtype": table.metadata["dtype"],
        "manifest": sha256(manifest_path),
    }
    return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


def plot_history(history: pd.DataFrame, best_epoch: int, path: str | Path) -> None:
    """Training loss and validation ROC-AUC per epoch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.2))
    a.plot(history["epoch"], history["train_loss"], marker=".")
    a.set(xlabel="epoch", ylabel="training loss (BCE)")
    b.plot(history["epoch"], history["valid_roc_auc"], marker=".", label="valid ROC-AUC")
    b.axvline(best_epoch, color="grey", linestyle=":", label=f"best (epoch {best_epoch})")
    b.set(xlabel="epoch", ylabel="macro ROC-AUC")
    b.legend(loc="lower right")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
