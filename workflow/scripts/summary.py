"""Rule summary: scores.csv, a printable table and the figures."""
import numpy as np

from mirtransfer.files import script_logging
from mirtransfer.summary import collect, write_figures, write_tables

with script_logging(snakemake.log[0]) as log:
    published = None
    if snakemake.params.compared:  # the paper's score beside each of the reproduced extractor's cells
        published = {cell: float(np.load(path)) for cell, path in snakemake.params.published.items()}
    scores = collect(list(snakemake.input.scores), published)
    text = write_tables(scores, snakemake.output.scores, snakemake.output.table)
    figures = write_figures(scores, snakemake.output.figures)
    log.info("scores of %d cells, %d figures\n%s", len(scores), len(figures), text)
