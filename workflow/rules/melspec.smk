# Audio to log-mel spectrograms, one Parquet shard per job, and the dataset's
# list of rejected clips. results/<dataset>/mel/ holds the config's front end;
# results/<dataset>/mel-<model>/ a converted model's own (choi2017: kapre's).


rule melspec:
    input:
        manifest=manifest_file("{dataset}"),
    output:
        mel=result_path("{dataset}/{mel}/part-{shard}.parquet"),
        rejected=result_path("{dataset}/{mel}/rejected-{shard}.csv"),
    params:
        frontend=lambda wildcards: mel_frontend(wildcards.mel),
        excerpts=config["excerpts"],
        melspec=config["melspec"],
        n_shards=lambda wildcards: n_shards(wildcards.dataset),
        strict=config["fail_on_bad_audio"],
    log:
        log_path("{dataset}/{mel}/melspec-{shard}.log"),
    benchmark:
        benchmark_path("{dataset}/{mel}/melspec-{shard}.tsv")
    threads: rule_resources("melspec", "threads", 2)
    resources:
        mem_mb=rule_resources("melspec", "mem_mb", 2000),
        runtime=rule_resources("melspec", "runtime", 60),
    conda:
        "../../envs/mirtransfer.yaml"
    script:
        "../scripts/melspec.py"


rule melspec_summary:
    input:
        manifest=manifest_file("{dataset}"),
        mel=lambda wildcards: mel_shards(wildcards.dataset),
        rejected=lambda wildcards: [
            f"{RESULTS}/{wildcards.dataset}/mel/rejected-{shard:03d}.csv"
            for shard in range(n_shards(wildcards.dataset))
        ],
    output:
        rejected=result_path("{dataset}/rejected.csv"),
        summary=result_path("{dataset}/summary.json"),
    log:
        log_path("{dataset}/melspec_summary.log"),
    benchmark:
        benchmark_path("{dataset}/melspec_summary.tsv")
    threads: 1
    resources:
        mem_mb=rule_resources("melspec_summary", "mem_mb", 1000),
        runtime=rule_resources("melspec_summary", "runtime", 10),
    conda:
        "../../envs/mirtransfer.yaml"
    script:
        "../scripts/melspec_summary.py"
