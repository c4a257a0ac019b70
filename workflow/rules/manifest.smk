# One manifest per dataset: a Parquet table of its clips, labels and splits. The
# tasks on the dataset are checked against it here, before any expensive stage.


rule manifest:
    input:
        root=dataset_root,
    output:
        manifest_file("{dataset}"),
    params:
        spec=lambda wildcards: dataset_spec(wildcards.dataset),
        tasks=lambda wildcards: {name: task for name, task in TASKS.items() if task["dataset"] == wildcards.dataset},
    log:
        log_path("{dataset}/manifest.log"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=30,
    conda:
        "../../envs/mirtransfer.yaml"
    script:
        "../scripts/manifest.py"
