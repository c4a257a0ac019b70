"""Rule mfcc: the MFCC baseline features of one dataset."""
from mirtransfer.files import script_logging
from mirtransfer.mfcc import extract_mfcc

with script_logging(snakemake.log[0]) as log:
    extract_mfcc(
        snakemake.input.manifest,
        list(snakemake.input.mel),
        snakemake.output[0],
        frontend=snakemake.params.frontend,
        excerpts=snakemake.params.excerpts,
        audio=snakemake.params.audio,
        threads=snakemake.threads,
        logger=log,
    )
