"""Rule choi2017_download: the authors' released artefacts, each checked against its sha256."""
from pathlib import Path

from mirtransfer.files import download, script_logging
from mirtransfer.reproduction import read_checksums

with script_logging(snakemake.log[0]) as log:
    checksums = read_checksums(snakemake.params.checksums)
    for out in snakemake.output:
        name = Path(out).relative_to(Path(snakemake.output[0]).parents[1]).as_posix()
        download(f"{snakemake.params.base_url}/{name}", out, checksums[name],
                 fix="check reproduction.base_url (a mirror must hold the authors' files unchanged), or fetch "
                     "them yourself and set reproduction.root")
        log.info("fetched %s", name)
