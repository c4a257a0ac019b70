# The MFCC baseline: 120 statistics per clip, aligned with the spectrograms; of the
# spectrograms' excerpts, or of each clip's own audio (mfcc.audio: clip, the authors').


rule mfcc:
    input:
        manifest=manifest_file("{dataset}"),
        mel=lambda wildcards: mel_shards(wildcards.dataset),
    output:
        feature_table("{dataset}", "mfcc"),
    params:
        frontend=config["frontend"],
        excerpts=config["excerpts"],
        audio=config["mfcc"]["audio"],
    log:
        log_path("{dataset}/mfcc.log"),
    benchmark:
        benchmark_path("{dataset}/mfcc.tsv")
    threads: rule_resources("mfcc", "threads", 2)
    resources:
        mem_mb=rule_resources("mfcc", "mem_mb", 2000),
        runtime=rule_resources("mfcc", "runtime", 60),
    conda:
        "../../envs/mirtransfer.yaml"
    script:
        "../scripts/mfcc.py"
