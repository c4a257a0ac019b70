"""Rule reproduction: one published task re-scored from the authors' features."""
from mirtransfer.files import atomic_path, script_logging
from mirtransfer.reproduction import reproduce_task

with script_logging(snakemake.log[0]) as log:
    table = reproduce_task(snakemake.params.root, snakemake.wildcards.published_task, n_jobs=snakemake.threads,
                           logger=log)
    with atomic_path(snakemake.output[0]) as tmp:
        table.to_csv(tmp, index=False)
    log.info("%s: %d cells, %d beyond 1e-3, %d not reproducible",
             snakemake.wildcards.published_task, len(table), int((table["abs_diff"] > 1e-3).sum()),
             int(table["reproduced"].isna().sum()))
