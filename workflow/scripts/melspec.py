"""Rule melspec: one shard of a dataset's log-mel spectrograms."""
from mirtransfer.files import script_logging
from mirtransfer.melspec import run_shard

with script_logging(snakemake.log[0]) as log:
    run_shard(
        snakemake.input.manifest,
        int(snakemake.wildcards.shard),
        snakemake.params.n_shards,
        frontend=snakemake.params.frontend,
        excerpts=snakemake.params.excerpts,
        melspec=snakemake.params.melspec,
        strict=snakemake.params.strict,
        mel_out=snakemake.output.mel,
        rejected_out=snakemake.output.rejected,
        threads=snakemake.threads,
        logger=log,
    )
