# One manifest per dataset: a Parquet table of its clips, labels and splits. The
# tasks on the dataset are checked against it here, before any expensive stage; they are
# read from the config, not params, so editing a task does not rebuild the manifest and
# everything after it (the score jobs check the task again).


rule manifest:
    input:
        root=dataset_root,
        labels=lambda wildcards: label_files(wildcards.dataset),
    output:
        manifest_file("{dataset}"),
    params:
        spec=lambda wildcards: dataset_spec(wildcards.dataset),
    log:
        log_path("{dataset}/manifest.log"),
    benchmark:
        benchmark_path("{dataset}/manifest.tsv")
    threads: 1
    resources:
        mem_mb=rule_resources("manifest", "mem_mb", 2000),
        runtime=rule_resources("manifest", "runtime", 30),
    conda:
        "../../envs/mirtransfer.yaml"
    script:
        "../scripts/manifest.py"
