"""Rule summary: scores.csv, a printable table and the figures."""
from pathlib import Path

from mirtransfer.files import script_logging
from mirtransfer.summary import collect, plot_heatmap, plot_task, write_tables

with script_logging(snakemake.log[0]) as log:
    scores = collect(list(snakemake.input))
    text = write_tables(scores, snakemake.output.scores, snakemake.output.table)
    figures = Path(snakemake.output.figures)
    figures.mkdir(parents=True, exist_ok=True)
    for task in scores["task"].unique():
        plot_task(scores, task, figures / f"scores_{task}.png")
    for group in scores.loc[scores["layers"] != "", "group"].unique():
        if "+" not in group:
            plot_heatmap(scores, group, figures / f"layers_{group}.png")
    log.info("scores of %d cells\n%s", len(scores), text)
