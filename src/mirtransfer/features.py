"""Per-layer convnet features: each block's output, global-average-pooled, one Parquet per layer.

The network runs in inference mode. Batch norm uses the model's own statistics, or
statistics estimated on the whole target dataset (random weights, and the paper's
network in its batch-independent mode), so a clip's feature does not depend on the
other clips of its batch; only the paper's network in its authors' mode (batchnorm:
batch) normalises each batch of 256 clips with its own statistics, as the authors did. A clip with several
excerpts gets the mean of its excerpts' features. Rows follow the spectrogram
table, i.e. the dataset's manifest order without the rejected clips.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from mirtransfer.featuresets import write_layers
from mirtransfer.meltable import MelTable, mel_tensor
from mirtransfer.model import (ConvNet, build_model, compile_on_cuda, device_for, float32_convolutions, group_statistics,
                               load_model)
from mirtransfer.modelspec import N_BLOCKS, ModelSpec, batchnorm_options, check_excerpt

NORMALISATION_TEXT = {
    "model": "the model's own batch-norm statistics",
    "dataset": "batch-norm statistics of the whole dataset, dB relative to each clip's maximum; "
               "no clip depends on the others",
    "batch": "batch-norm statistics and dB maximum of consecutive batches of {} clips (batch_order), as the "
             "authors ran their network; a clip's features depend on the other clips of its batch",
}
NORMALISATIONS = tuple(NORMALISATION_TEXT)


def _chunk_features(
    model: ConvNet, table: MelTable, *, pooling: str, normalisation: str, batch_size: int, group_size: int | None,
    device: torch.device,
    order: np.ndarray | None = None,
    compile: bool = False,
) -> Iterator[tuple[list[str], list[torch.Tensor]]]:
    """(clip ids, per-block pooled features) of consecutive chunks of the table.

    normalisation: 'model' uses the network's own batch-norm statistics; 'dataset' the
    statistics of the whole table with each clip's own dB maximum (no clip depends on
    which clips share its batch); 'batch' those of consecutive groups of ``group_size``
    rows with the group's dB maximum, as the authors ran their network (a clip's
    features then depend on its group); the rows are taken in ``order`` (default: the
    table's), e.g. that of the authors' table, so that the groups are the authors' batches.
    compile: the features' forward pass compiled on CUDA (model.compile_on_cuda) for 'model' and
    'dataset'; 'batch' runs eagerly (each group's dB maximum, a Python float, would recompile it),
    as do the batch-norm statistics.
    """
    forward = compile_on_cuda(model, device, compile and normalisation != "batch")
    if normalisation == "model":
        for batch in table.iter_batches(batch_size):
            yield batch.clip_ids, forward(batch.to_tensor(device), pooling=pooling)[0]
    elif normalisation == "dataset":
        stats = group_statistics(
            model, lambda: (b.to_tensor(device) for b in table.iter_batches(batch_size)), db_scope="clip")
        for batch in table.iter_batches(batch_size):
            yield batch.clip_ids, forward(batch.to_tensor(device), pooling=pooling, stats=stats)[0]
    elif normalisation == "batch":
        if group_size is None:
            raise ValueError("normalisation 'batch' needs group_size, the clips normalised together")
        rows = np.arange(table.num_rows) if order is None else np.asarray(order)
        for start in range(0, len(rows), group_size):
            group = table.take(rows[start : start + group_size])

            def chunks(mel: np.ndarray = group.mel) -> Iterator[torch.Tensor]:
                return (mel_tensor(mel[i : i + batch_size], device) for i in range(0, len(mel), batch_size))

            stats = group_statistics(model, chunks, db_scope="group", keep=True)
            for i, x in zip(range(0, len(group.mel), batch_size), chunks()):
                yield group.clip_ids[i : i + batch_size], model.blocks_forward(x, pooling=pooling, stats=stats)[0]
    else:
        raise ValueError(f"normalisation must be one of {NORMALISATIONS}, not {normalisation!r}")


def authors_order(table: MelTable, authors_ids: list[str]) -> tuple[np.ndarray, int]:
    """Table rows in the order of the authors' table (a clip's excerpts together), the clips they
    did not index last in table order; and how many of the authors' clips the table lacks."""
    clip_ids = table.index()["clip_id"]
    rank = {clip: k for k, clip in enumerate(authors_ids)}
    keys = clip_ids.map(rank).fillna(len(rank)).to_numpy()
    return np.argsort(keys, kind="stable"), len(set(authors_ids) - set(clip_ids))


def layer_features(
    model: ConvNet,
    table: MelTable,
    *,
    pooling: str,
    normalisation: str = "model",
    batch_size: int = 64,
    group_size: int | None = None,
    order: np.ndarray | None = None,
    device: torch.device | None = None,
    compile: bool = False,
) -> tuple[list[str], list[np.ndarray]]:
    """Clip ids (table order) and, per block, a (clips, channels) float32 array averaged over excerpts.

    normalisation, group_size (for 'batch': the extractor's batch_size) and order: see _chunk_features;
    batch_size: rows per forward pass (memory); compile: torch.compile the forward pass on CUDA.
    """
    device = device or device_for()
    model.spec.frontend.require_same(table.frontend, mine="the model", theirs=f"the spectrograms {table.paths[0]}")
    check_excerpt(model.spec, pooling, "the model's five layer features")
    model = model.to(device).eval()
    # Pooled outputs stay on the device until the end (a few hundred bytes per row): no
    # synchronisation per batch, so reading the next batch overlaps the device's work.
    pooled_rows: list[list[torch.Tensor]] = [[] for _ in range(N_BLOCKS)]
    ids: list[str] = []
    with torch.inference_mode(), float32_convolutions():
        chunks = _chunk_features(model, table, pooling=pooling, normalisation=normalisation, batch_size=batch_size,
                                 group_size=group_size, device=device, order=order, compile=compile)
        for chunk_ids, pooled in chunks:
            for layer, values in enumerate(pooled):
                pooled_rows[layer].append(values.float())
            ids += chunk_ids
        per_row = [torch.cat(rows).cpu().numpy() for rows in pooled_rows]  # MelTable refuses an empty table
    # Mean over each clip's excerpts, clips in table order.
    clips = pd.unique(table.index()["clip_id"])
    codes = pd.Index(clips).get_indexer(ids)
    counts = np.bincount(codes, minlength=len(clips)).astype(np.float32)[:, None]
    means = []
    for values in per_row:
        total = np.zeros((len(clips), values.shape[1]), dtype=np.float64)
        np.add.at(total, codes, values)
        means.append((total / counts).astype(np.float32))
    return list(clips), means


def normalisation_for(extractor: dict[str, Any], model: ConvNet) -> str:
    """How an extractor normalises (see _chunk_features), from its ``batchnorm`` option and the model
    (the options: :func:`mirtransfer.modelspec.batchnorm_options`)."""
    option = extractor.get("batchnorm")
    choices = batchnorm_options(extractor["weights"], model.spec.batch_statistics)
    if not choices:
        if option is not None:
            raise ValueError(f"extractor batchnorm: {option!r} is for random weights or a batch-statistics model "
                             "(choi2017_paper); a trained model uses its own statistics: remove the option")
        return "model"
    option = option or next(iter(choices))
    if option not in choices:
        raise ValueError(f"extractor batchnorm must be one of {sorted(choices)} for this model, not {option!r}")
    return choices[option]


def extract(
    mel_paths: list[str | Path],
    out_paths: list[str | Path],
    *,
    extractor: dict[str, Any],
    model_files: tuple[str | Path, str | Path] | None = None,
    model_config: dict[str, Any] | None = None,
    pooling: str,
    batch_size: int = 64,
    compile: bool = True,
    authors_ids: list[str] | None = None,
    logger: logging.Logger | None = None,
) -> dict[str, Any]:
    """Extract one dataset's five layer features with a trained or a random-weights convnet.

    extractor: the config entry, its defaults filled by the schema ({model, weights: trained|random, seed,
    batchnorm, batch_size, batch_order}).
    authors_ids: the manifest clip ids of the authors' table, in its order: with batchnorm: batch,
    the batches are then taken in that order (batch_order: authors).
    model_files: (weights, spec JSON) of a trained model; model_config: the model's config entry,
    which builds the random-weights network from the spectrograms' front end.
    batch_size: rows per forward pass; the extractor's own batch_size is the authors' batch
    (256 by default) for batchnorm: batch. compile: torch.compile the forward pass on CUDA.
    """
    log = logger or logging.getLogger("mirtransfer")
    device = device_for()
    table = MelTable(mel_paths)
    weights = extractor["weights"]
    meta: dict[str, Any] = {"extractor": extractor, "pooling": pooling, "excerpts": table.excerpts.to_dict(),
                            "excerpt_aggregation": "mean" if table.excerpts.policy == "all" else "first excerpt only",
                            "frontend": table.frontend.to_dict(), "dataset": table.metadata.get("dataset")}
    if weights == "trained":
        if model_files is None:
            raise ValueError("a trained extractor needs the model's weights and spec files")
        model = load_model(*model_files, device=device)
        meta["model"] = {"weights": str(model_files[0]), "source": model.spec.source}
    elif weights == "random":
        if model_config is None:
            raise ValueError("a random-weights extractor needs its model's config (channels, input_norm)")
        spec = ModelSpec(table.frontend, ["unused"], channels=model_config["channels"], input_norm=model_config["input_norm"])
        model = build_model(spec, extractor["seed"]).to(device)
        meta["model"] = {"weights": "random (He-normal)", "seed": extractor["seed"]}
    else:
        raise ValueError(f"extractor weights must be 'trained' or 'random', not {weights!r}")
    normalisation = normalisation_for(extractor, model)
    if weights == "random":
        meta["model"]["batchnorm_statistics"] = ("estimated on this dataset" if normalisation == "dataset"
                                                 else "identity (mean 0, variance 1)")
    group_size = extractor["batch_size"]
    meta["normalisation"] = {"mode": normalisation, "description": NORMALISATION_TEXT[normalisation].format(group_size),
                             "batch_dependent": normalisation == "batch"}
    order = None
    if normalisation == "batch" and authors_ids is not None:
        order, lacking = authors_order(table, authors_ids)
        meta["normalisation"]["batch_order"] = "the authors' table"
        meta["normalisation"]["authors_clips_missing"] = lacking
        if lacking:
            log.warning("%d clips of the authors' table are not in the spectrograms (missing or rejected): the "
                        "batches differ from the authors' from the first gap on", lacking)
    elif normalisation == "batch":
        meta["normalisation"]["batch_order"] = "table (manifest) order"
    clip_ids, layers = layer_features(model, table, pooling=pooling, normalisation=normalisation, batch_size=batch_size,
                                      group_size=group_size, order=order, device=device, compile=compile)
    write_layers(clip_ids, layers, out_paths, meta)
    log.info("%d clips, %d layers of %d values (%s weights, %s-pooling features, %s) on %s",
             len(clip_ids), len(layers), layers[0].shape[1], weights, pooling, meta["normalisation"]["description"], device)
    return meta
