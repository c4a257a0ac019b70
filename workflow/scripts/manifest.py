"""Rule manifest: list a dataset's clips, labels and splits."""
from mirtransfer.datasets import build_manifest, count_warning
from mirtransfer.files import script_logging
from mirtransfer.manifest import label_kind, write_manifest

with script_logging(snakemake.log[0]) as log:
    name, spec = snakemake.wildcards.dataset, dict(snakemake.params.spec)
    manifest = build_manifest(name, spec)
    write_manifest(manifest, snakemake.output[0], {"dataset": name, "type": spec["type"], "root": spec["root"]})
    log.info("%s: %d clips, labels: %s", name, len(manifest), label_kind(manifest))
    warning = count_warning(spec["type"], len(manifest))
    if warning:
        log.warning("%s", warning)
