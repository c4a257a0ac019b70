"""Rule reproduction: one published task's cells in one table."""
import json
from pathlib import Path

from mirtransfer.files import atomic_path, script_logging
from mirtransfer.reproduction import task_table

with script_logging(snakemake.log[0]) as log:
    table = task_table([json.loads(Path(path).read_text()) for path in snakemake.input])
    with atomic_path(snakemake.output[0]) as tmp:
        table.to_csv(tmp, index=False)
    log.info("%s: %d cells, %d beyond 1e-3, %d not reproducible", snakemake.wildcards.published_task, len(table),
             int((table["abs_diff"] > 1e-3).sum()), int(table["reproduced"].isna().sum()))
