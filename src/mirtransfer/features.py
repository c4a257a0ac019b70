"""Per-layer convnet features: each block's output, global-average-pooled, one Parquet per layer.

The network runs in inference mode (batch norm uses its running statistics), so a
clip's feature never depends on the other clips of its batch. A clip with several
excerpts gets the mean of its excerpts' features. Rows follow the spectrogram
table, i.e. the dataset's manifest order without the rejected clips.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from mirtransfer.files import atomic_path
from mirtransfer.melspec import MelTable
from mirtransfer.model import N_BLOCKS, ConvNet, ModelSpec, build_model, device_for, float32_convolutions, load_model

METADATA_KEY = b"mirtransfer.features"


def layer_features(
    model: ConvNet, table: MelTable, *, where: str = "post", batch_size: int = 64, device: torch.device | None = None
) -> tuple[list[str], list[np.ndarray]]:
    """Clip ids (table order) and, per block, a (clips, channels) float32 array averaged over excerpts."""
    device = device or device_for()
    model.spec.frontend.require_same(table.frontend, mine="the model", theirs=f"the spectrograms {table.paths[0]}")
    model = model.to(device).eval()
    sums: list[list[np.ndarray]] = [[] for _ in range(N_BLOCKS)]
    ids: list[str] = []
    with torch.inference_mode(), float32_convolutions():
        for batch in table.iter_batches(batch_size):
            pooled, _ = model.blocks_forward(batch.to_tensor(device), where=where)
            for layer, values in enumerate(pooled):
                sums[layer].append(values.float().cpu().numpy())
            ids += batch.clip_ids
    per_row = [np.concatenate(s) for s in sums]
    # Mean over each clip's excerpts (consecutive rows of one clip), keeping table order.
    codes, first = pd.factorize(pd.Series(ids))
    counts = np.bincount(codes).astype(np.float32)[:, None]
    means = []
    for values in per_row:
        total = np.zeros((len(first), values.shape[1]), dtype=np.float64)
        np.add.at(total, codes, values)
        means.append((total / counts).astype(np.float32))
    return list(first), means


def estimate_batchnorm(model: ConvNet, table: MelTable, *, batch_size: int = 64, device: torch.device | None = None) -> None:
    """Set every batch norm's running statistics to their averages over ``table`` (one pass, no gradient)."""
    device = device or device_for()
    model = model.to(device)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # cumulative average over the pass
    model.train()
    with torch.no_grad(), float32_convolutions():
        for batch in table.iter_batches(batch_size):
            if len(batch.clip_ids) > 1:
                model.blocks_forward(batch.to_tensor(device))
    model.eval()


def write_table(clip_ids: list[str], values: np.ndarray, columns: list[str], path: str | Path, metadata: dict[str, Any]) -> None:
    """One feature table: clip_id and one float32 column per value, metadata in the schema."""
    data = {"clip_id": pa.array(clip_ids, pa.string())}
    data.update({name: pa.array(values[:, k].astype(np.float32)) for k, name in enumerate(columns)})
    table = pa.table(data).replace_schema_metadata({METADATA_KEY: json.dumps(metadata, sort_keys=True)})
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)


def write_layers(clip_ids: list[str], layers: list[np.ndarray], paths: list[str | Path], metadata: dict[str, Any]) -> None:
    """One Parquet per layer: clip_id and columns l<layer>_<k>."""
    for layer, (values, path) in enumerate(zip(layers, paths), start=1):
        columns = [f"l{layer}_{k:02d}" for k in range(values.shape[1])]
        write_table(clip_ids, values, columns, path, {**metadata, "layer": layer})


def read_features(path: str | Path) -> tuple[pd.DataFrame, dict[str, Any]]:
    """A feature table (clip_id column plus values) and its metadata."""
    table = pq.read_table(path)
    return table.to_pandas(), json.loads(table.schema.metadata[METADATA_KEY])


def extract(
    mel_paths: list[str | Path],
    out_paths: list[str | Path],
    *,
    extractor: dict[str, Any],
    model_files: tuple[str | Path, str | Path] | None = None,
    model_config: dict[str, Any] | None = None,
    where: str = "post",
    batch_size: int = 64,
    logger: logging.Logger | None = None,
) -> dict[str, Any]:
    """Extract one dataset's five layer features with a trained or a random-weights convnet.

    extractor: the config entry ({model, weights: trained|random, seed, batchnorm: target|identity}).
    model_files: (weights, spec JSON) of a trained model; model_config: the model's config entry,
    which builds the random-weights network from the spectrograms' front end.
    """
    log = logger or logging.getLogger("mirtransfer")
    device = device_for()
    table = MelTable(mel_paths)
    weights = extractor.get("weights", "trained")
    meta: dict[str, Any] = {"extractor": extractor, "pooling": where, "excerpts": table.excerpts.to_dict(),
                            "excerpt_aggregation": "mean" if table.excerpts.policy == "all" else "first excerpt only",
                            "frontend": table.frontend.to_dict(), "dataset": table.metadata.get("dataset")}
    if weights == "trained":
        if model_files is None:
            raise ValueError("a trained extractor needs the model's weights and spec files")
        model = load_model(*model_files, device=device)
        meta["model"] = {"weights": str(model_files[0]), "source": model.spec.source}
    elif weights == "random":
        cfg = model_config or {}
        spec = ModelSpec(table.frontend, ["unused"], channels=cfg.get("channels", 32), input_norm=cfg.get("input_norm", "batchnorm"))
        model = build_model(spec, extractor.get("seed", 0)).to(device)
        mode = extractor.get("batchnorm", "target")
        if mode == "target":
            estimate_batchnorm(model, table, batch_size=batch_size, device=device)
        elif mode != "identity":
            raise ValueError(f"extractor batchnorm must be 'target' or 'identity', not {mode!r}")
        meta["model"] = {"weights": "random (He-normal)", "seed": extractor.get("seed", 0),
                         "batchnorm_statistics": "estimated on this dataset" if mode == "target" else "identity (mean 0, variance 1)"}
    else:
        raise ValueError(f"extractor weights must be 'trained' or 'random', not {weights!r}")
    clip_ids, layers = layer_features(model, table, where=where, batch_size=batch_size, device=device)
    write_layers(clip_ids, layers, out_paths, meta)
    log.info("%d clips, %d layers of %d values (%s weights, %s-pooling features) on %s",
             len(clip_ids), len(layers), layers[0].shape[1], weights, where, device)
    return meta
