"""Rule train: train the convnet on the source tagging task."""
from pathlib import Path

import torch

from mirtransfer.files import script_logging
from mirtransfer.train import TrainConfig, TrainOutputs, train

with script_logging(snakemake.log[0]) as log:
    torch.set_num_threads(snakemake.threads)
    out = snakemake.output
    train(
        snakemake.input.manifest,
        list(snakemake.input.mel),
        TrainConfig(**snakemake.params.config, compile=snakemake.config["models"][snakemake.wildcards.model]["compile"]),
        TrainOutputs(Path(out.weights), Path(out.spec), Path(out.metrics), Path(out.history), Path(out.plot)),
        checkpoint_path=Path(out.weights).with_name("checkpoint.pt"),
        logger=log,
    )
