"""Rule train: train the convnet on the source tagging task."""
from pathlib import Path

import torch

from mirtransfer.files import script_logging
from mirtransfer.train import TrainConfig, train

with script_logging(snakemake.log[0]) as log:
    torch.set_num_threads(snakemake.threads)
    out_dir = Path(snakemake.output.weights).parent
    train(
        snakemake.input.manifest,
        list(snakemake.input.mel),
        TrainConfig(**snakemake.params.config),
        out_dir,
        checkpoint_path=out_dir / "checkpoint.pt",
        logger=log,
    )
