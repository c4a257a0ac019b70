"""Rule reproduction_summary: every task's cells in one table, differences first."""
from mirtransfer.files import script_logging
from mirtransfer.reproduction import summarize

with script_logging(snakemake.log[0]) as log:
    table = summarize(list(snakemake.input), snakemake.output[0])
    log.info("%d cells, %d within 1e-3", len(table), int(table["within_1e-3"].sum()))
