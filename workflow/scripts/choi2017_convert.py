"""Rule choi2017_convert: the authors' Keras HDF5 to this project's weights and spec."""
from mirtransfer.convert import convert_file
from mirtransfer.files import script_logging

with script_logging(snakemake.log[0]) as log:
    model = convert_file(
        snakemake.input.hdf5,
        snakemake.output.weights,
        snakemake.output.spec,
        kind=snakemake.params.kind,
        expected_sha256=snakemake.params.sha256,
        duration=snakemake.params.duration,
    )
    log.info("converted %s (%d tags, %.3f s excerpts)", snakemake.input.hdf5, len(model.spec.tags), model.spec.frontend.duration)
