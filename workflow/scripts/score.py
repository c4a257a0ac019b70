"""Rule score: one feature set on one task."""
from mirtransfer.evaluate import score_feature_set
from mirtransfer.files import script_logging, write_json

with script_logging(snakemake.log[0]) as log:
    result = score_feature_set(
        snakemake.input.manifest,
        list(snakemake.input.features),
        snakemake.params.dataset,
        snakemake.wildcards.feature_set,
        dict(snakemake.params.task),
        mode=snakemake.params.mode,
        inner_folds=snakemake.params.inner_folds,
        n_jobs=snakemake.threads,
        scaling=tuple(snakemake.params.scaling),
    )
    write_json(result, snakemake.output[0])
    log.info("%s on %s: %s %.4f (%s mode, %.1f s)", snakemake.wildcards.feature_set, snakemake.wildcards.task,
             result["metric"], result["score"], result["mode"], result["seconds"])
