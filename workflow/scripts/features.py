"""Rule features: one dataset's five layer features from one extractor."""
import torch

from mirtransfer.features import extract
from mirtransfer.files import script_logging

with script_logging(snakemake.log[0]) as log:
    torch.set_num_threads(snakemake.threads)
    trained = snakemake.params.extractor["weights"] == "trained"
    extract(
        list(snakemake.input.mel),
        list(snakemake.output),
        extractor=snakemake.params.extractor,
        model_files=(snakemake.input.weights, snakemake.input.spec) if trained else None,
        model_config=snakemake.params.model_config,
        where=snakemake.params.pooling,
        batch_size=snakemake.params.batch_size,
        logger=log,
    )
