"""Rule summary: scores.csv, a printable table and the figures."""
from pathlib import Path

import numpy as np

from mirtransfer.files import script_logging
from mirtransfer.summary import collect, plot_heatmap, plot_task, write_tables

with script_logging(snakemake.log[0]) as log:
    published = None
    if snakemake.params.compared:  # the paper's score beside each of the reproduced extractor's cells
        published = {cell: float(np.load(path)) for cell, path in snakemake.params.published.items()}
    scores = collect(list(snakemake.input.scores), published)
    text = write_tables(scores, snakemake.output.scores, snakemake.output.table)
    figures = Path(snakemake.output.figures)
    figures.mkdir(parents=True, exist_ok=True)
    for task in scores["task"].unique():
        plot_task(scores, task, figures / f"scores_{task}.png")
    for group in scores.loc[scores["layers"] != "", "group"].unique():
        if "+" not in group:
            plot_heatmap(scores, group, figures / f"layers_{group}.png")
    log.info("scores of %d cells\n%s", len(scores), text)
