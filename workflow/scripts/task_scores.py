"""Rule task_scores: every scored feature set of one task in one table."""
from mirtransfer.files import atomic_path, script_logging
from mirtransfer.summary import collect

with script_logging(snakemake.log[0]) as log:
    scores = collect(list(snakemake.input))
    with atomic_path(snakemake.output[0]) as tmp:
        scores.to_csv(tmp, index=False)
    best = scores.loc[scores["score"].idxmax()]
    log.info("%s: %d feature sets; best %s (%s %.4f)", snakemake.wildcards.task, len(scores),
             best["feature_set"], best["metric"], best["score"])
