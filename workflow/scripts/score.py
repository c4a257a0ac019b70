"""Rules score and score_task: the cells of one task (one, or all of them), each written as one JSON."""
from mirtransfer.evaluate import score_feature_set
from mirtransfer.files import script_logging, write_json

with script_logging(snakemake.log[0]) as log:
    cells = snakemake.params.cells
    assert len(cells) == len(snakemake.output)
    declared = set(snakemake.input.features)
    for (feature_set, tables), out in zip(cells, snakemake.output):
        assert set(tables) <= declared, f"{feature_set}: tables not among the rule's inputs"
        result = score_feature_set(
            snakemake.input.manifest,
            tables,
            snakemake.params.dataset,
            feature_set,
            snakemake.wildcards.task,
            dict(snakemake.params.task),
            mode=snakemake.params.mode,
            inner_folds=snakemake.params.inner_folds,
            n_jobs=snakemake.threads,
            scaling=tuple(snakemake.params.scaling),
        )
        write_json(result, out)
        log.info("%s on %s: %s %.4f (%s mode, %.1f s)", feature_set, snakemake.wildcards.task,
                 result["metric"], result["score"], result["mode"], result["seconds"])
