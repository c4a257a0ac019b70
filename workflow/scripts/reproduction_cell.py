"""Rule reproduction_cell: one published cell re-scored from the authors' features."""
from mirtransfer.files import script_logging, write_json
from mirtransfer.reproduction import cell_message, reproduce_cell

with script_logging(snakemake.log[0]) as log:
    cell = reproduce_cell(snakemake.params.root, snakemake.wildcards.published_task, snakemake.wildcards.feature_set,
                          n_jobs=snakemake.threads)
    write_json(cell, snakemake.output[0])
    log.info(cell_message(cell))
