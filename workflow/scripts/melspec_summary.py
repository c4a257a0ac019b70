"""Rule melspec_summary: merge the shards' rejected lists and summarise the dataset."""
from mirtransfer.files import script_logging
from mirtransfer.melspec import summarize

with script_logging(snakemake.log[0]) as log:
    summary = summarize(
        snakemake.input.manifest,
        snakemake.input.mel,
        snakemake.input.rejected,
        snakemake.output.rejected,
        snakemake.output.summary,
    )
    level = log.warning if summary["n_rejected"] else log.info
    level(
        "%s: %d clips, %d rejected (see %s), %d kept",
        summary["dataset"], summary["n_clips"], summary["n_rejected"], snakemake.output.rejected, summary["n_kept"],
    )
