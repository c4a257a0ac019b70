"""Rule tag: the top-k tags of the configured audio files with one source model."""
import torch

from mirtransfer.files import atomic_path, script_logging
from mirtransfer.tagging import load_for_tagging, tag_files

with script_logging(snakemake.log[0]) as log:
    torch.set_num_threads(snakemake.threads)
    model = load_for_tagging(snakemake.input.weights, snakemake.input.spec, snakemake.params.duration)
    table = tag_files(model, snakemake.params.paths, top_k=snakemake.params.top_k, logger=log)
    with atomic_path(snakemake.output[0]) as tmp:
        table.to_csv(tmp, index=False)
