# Tag audio files or folders with a source model (config: tagging), to check
# that its weights do what they claim.


rule tag:
    input:
        weights=lambda wildcards: model_files(wildcards.model)["weights"],
        spec=lambda wildcards: model_files(wildcards.model)["spec"],
        audio=lambda wildcards: [os.path.normpath(p) for p in config["tagging"]["paths"]],
    output:
        result_path("tags/{model}.csv"),
    params:
        paths=lambda wildcards: config["tagging"]["paths"],
        top_k=lambda wildcards: config["tagging"]["top_k"],
        duration=lambda wildcards: config["tagging"].get("duration"),
    log:
        log_path("tags/{model}.log"),
    benchmark:
        benchmark_path("tags/{model}.tsv")
    threads: rule_resources("tag", "threads", 2)
    resources:
        mem_mb=rule_resources("tag", "mem_mb", 2000),
        runtime=rule_resources("tag", "runtime", 30),
        gpu=gpu_resources("tag"),
    conda:
        "../../envs/mirtransfer.yaml"
    script:
        "../scripts/tag.py"
