# The paper's table, re-scored from the authors' released features with the same
# scoring code as the rest of the workflow: one job per published cell (task, feature
# set), so the 210 cells spread over cores and cluster nodes, then one table per task.


rule choi2017_download:
    output:
        [f"{DOWNLOADS}/{name}" for name in CHOI2017_FILES],
    params:
        base_url=REPRODUCTION["base_url"],
        checksums=CHOI2017_CHECKSUMS,
    log:
        log_path("reproduction/choi2017_download.log"),
    threads: 1
    resources:
        mem_mb=500,
        runtime=30,
    conda:
        "../../envs/mirtransfer.yaml"
    script:
        "../scripts/choi2017_download.py"


rule reproduction_cell:
    input:
        reproduction_cell_files,
    output:
        result_path("reproduction/cells/{published_task}/{feature_set}.json"),
    params:
        root=CHOI2017_ROOT,
    log:
        log_path("reproduction/{published_task}/{feature_set}.log"),
    benchmark:
        benchmark_path("reproduction/{published_task}/{feature_set}.tsv")
    threads: rule_resources("reproduction", "threads", 1)
    resources:
        mem_mb=reproduction_mem_mb,
        runtime=rule_resources("reproduction", "runtime", 240),
    conda:
        "../../envs/mirtransfer.yaml"
    script:
        "../scripts/reproduction_cell.py"


rule reproduction:
    input:
        reproduction_cells,
    output:
        report(
            result_path("reproduction/{published_task}.csv"),
            caption="../report/reproduction.rst",
            category="Reproduction",
        ),
    log:
        log_path("reproduction/{published_task}.log"),
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    conda:
        "../../envs/mirtransfer.yaml"
    script:
        "../scripts/reproduction.py"


rule reproduction_summary:
    input:
        expand(result_path("reproduction/{published_task}.csv"), published_task=REPRODUCTION_TASKS),
    output:
        result_path("reproduction/summary.csv"),
    log:
        log_path("reproduction/summary.log"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/mirtransfer.yaml"
    script:
        "../scripts/reproduction_summary.py"


rule reproduction_features:
    input:
        unpack(authors_feature_files),
        ours=lambda wildcards: feature_files(wildcards.dataset, wildcards.extractor),
    output:
        table=report(
            result_path("reproduction/features/{dataset}/{extractor}.csv"),
            caption="../report/reproduction_features.rst",
            category="Reproduction",
        ),
        unmatched=result_path("reproduction/features/{dataset}/{extractor}-unmatched.csv"),
    params:
        dataset_type=lambda wildcards: dataset_spec(wildcards.dataset)["type"],
    log:
        log_path("reproduction/features/{dataset}/{extractor}.log"),
    benchmark:
        benchmark_path("reproduction/features/{dataset}/{extractor}.tsv")
    threads: 1
    resources:
        mem_mb=rule_resources("reproduction_features", "mem_mb", 4000),
        runtime=rule_resources("reproduction_features", "runtime", 20),
    conda:
        "../../envs/mirtransfer.yaml"
    script:
        "../scripts/reproduction_features.py"
