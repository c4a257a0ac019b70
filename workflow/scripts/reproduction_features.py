"""Rule reproduction_features: one extractor's features of a dataset against the authors' data_feats."""
import numpy as np
import pandas as pd

from mirtransfer.datasets import authors_clip_ids
from mirtransfer.featuresets import read_features
from mirtransfer.files import atomic_path, script_logging
from mirtransfer.reproduction import compare_features

with script_logging(snakemake.log[0]) as log:
    ours = [read_features(path)[0] for path in snakemake.input.ours]
    table = pd.read_csv(snakemake.input.table, index_col=0)
    authors_ids = authors_clip_ids(snakemake.params.dataset_type, table, ours[0]["clip_id"])
    layers, unmatched = compare_features(ours, [np.load(path) for path in snakemake.input.authors], authors_ids)
    with atomic_path(snakemake.output.table) as tmp:
        layers.to_csv(tmp, index=False)
    with atomic_path(snakemake.output.unmatched) as tmp:
        unmatched.to_csv(tmp, index=False)
    log.info("%s\n%d unmatched clips (%s)", layers.to_string(index=False), len(unmatched),
             unmatched["where"].value_counts().to_dict())
