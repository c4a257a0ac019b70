"""Rule demo_corpus: synthesise the demo datasets."""
from pathlib import Path

from mirtransfer.demo import make_corpus
from mirtransfer.files import script_logging

with script_logging(snakemake.log[0]) as log:
    p = snakemake.params
    root = Path(snakemake.output[0]).parent
    make_corpus(root, seed=p.seed, n_source=p.n_source, n_target=p.n_target, clip_seconds=p.clip_seconds)
    log.info("demo corpus written under %s", root)
