# The paper's table, re-scored from the authors' released features with the same
# scoring code as the rest of the workflow.


rule choi2017_download:
    output:
        [f"{CHOI2017_DEFAULT_ROOT}/{name}" for name in CHOI2017_FILES],
    params:
        base_url=REPRODUCTION.get("base_url", "https://raw.githubusercontent.com/keunwoochoi/transfer_learning_music/master"),
        checksums=workflow.source_path("../resources/choi2017.sha256"),
    log:
        "logs/reproduction/choi2017_download.log",
    threads: 1
    resources:
        mem_mb=500,
        runtime=30,
    conda:
        "../../envs/mirtransfer.yaml"
    script:
        "../scripts/choi2017_download.py"


rule reproduction:
    input:
        choi2017_files,
    output:
        report(
            "results/reproduction/{published_task}.csv",
            caption="../report/reproduction.rst",
            category="Reproduction",
        ),
    params:
        root=CHOI2017_ROOT,
    log:
        "logs/reproduction/{published_task}.log",
    benchmark:
        "benchmarks/reproduction/{published_task}.tsv"
    threads: rule_resources("reproduction", "threads", 2)
    resources:
        mem_mb=rule_resources("reproduction", "mem_mb", 4000),
        runtime=rule_resources("reproduction", "runtime", 240),
    conda:
        "../../envs/mirtransfer.yaml"
    script:
        "../scripts/reproduction.py"


rule reproduction_summary:
    input:
        expand("results/reproduction/{published_task}.csv", published_task=REPRODUCTION_TASKS),
    output:
        "results/reproduction/summary.csv",
    log:
        "logs/reproduction/summary.log",
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/mirtransfer.yaml"
    script:
        "../scripts/reproduction_summary.py"
