"""Rule features: one dataset's five layer features from one extractor."""
import pandas as pd
import torch

from mirtransfer.datasets import authors_clip_ids
from mirtransfer.features import extract
from mirtransfer.files import script_logging
from mirtransfer.meltable import MelTable

with script_logging(snakemake.log[0]) as log:
    torch.set_num_threads(snakemake.threads)
    trained = snakemake.params.extractor["weights"] == "trained"
    authors = None
    if "authors_table" in snakemake.input.keys():
        table = pd.read_csv(snakemake.input.authors_table, index_col=0)
        clip_ids = MelTable(list(snakemake.input.mel)).index()["clip_id"]
        authors = authors_clip_ids(snakemake.params.dataset_type, table, clip_ids)
    extract(
        list(snakemake.input.mel),
        list(snakemake.output),
        extractor=snakemake.params.extractor,
        model_files=(snakemake.input.weights, snakemake.input.spec) if trained else None,
        model_config=snakemake.params.model_config,
        pooling=snakemake.params.pooling,
        batch_size=snakemake.params.batch_size,
        compile=snakemake.config["features"]["compile"],  # not a param: it changes no result
        authors_ids=authors,
        logger=log,
    )
