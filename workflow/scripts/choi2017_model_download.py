"""Rule choi2017_model_download: the authors' HDF5 of a converted model, kept only if its sha256 matches."""
from mirtransfer.files import download, script_logging

with script_logging(snakemake.log[0]) as log:
    model = snakemake.wildcards.model
    source = f"models.{model}.url" if "url" in snakemake.config["models"][model] else "reproduction.base_url"
    download(snakemake.params.url, snakemake.output[0], snakemake.params.sha256,
             fix=f"check {source}, or set models.{model}.sha256 to the file's if you mean to use another file")
    log.info("fetched %s", snakemake.params.url)
