"""Rule manifest: list a dataset's clips, labels and splits."""
from mirtransfer.datasets import build_manifest, count_warning
from mirtransfer.files import script_logging
from mirtransfer.manifest import check_source, check_tasks, label_kind, write_manifest

with script_logging(snakemake.log[0]) as log:
    name, spec = snakemake.wildcards.dataset, dict(snakemake.params.spec)
    manifest = build_manifest(name, spec)
    tasks = {task: spec for task, spec in snakemake.config["tasks"].items() if spec["dataset"] == name}
    check_tasks(manifest, name, tasks)  # not a param: a task edit must not rebuild the manifest
    check_source(manifest, name, snakemake.config["models"])
    write_manifest(manifest, snakemake.output[0], {"dataset": name, "type": spec["type"], "root": spec["root"]})
    log.info("%s: %d clips, labels: %s", name, len(manifest), label_kind(manifest))
    warning = count_warning(spec["type"], len(manifest))
    if warning:
        log.warning("%s", warning)
