# Per-layer features of a dataset from one extractor (trained or random convnet).
# The paper's convnet with batchnorm: batch normalises batches of the extractor's
# batch_size clips (256, the authors'), in the authors' row order with batch_order: authors.


rule features:
    input:
        unpack(features_input),
    output:
        feature_files("{dataset}", "{extractor}"),
    params:
        extractor=lambda wildcards: config["extractors"][wildcards.extractor],
        model_config=lambda wildcards: random_network(wildcards.extractor),
        pooling=lambda wildcards: extractor_pooling(wildcards.extractor),
        batch_size=config["features"]["batch_size"],
        dataset_type=lambda wildcards: dataset_spec(wildcards.dataset)["type"],
    log:
        log_path("{dataset}/features-{extractor}.log"),
    benchmark:
        benchmark_path("{dataset}/features-{extractor}.tsv")
    threads: rule_resources("features", "threads", 2)
    resources:
        mem_mb=rule_resources("features", "mem_mb", 4000),
        runtime=rule_resources("features", "runtime", 60),
        gpu=gpu_resources("features"),
    conda:
        "../../envs/mirtransfer.yaml"
    script:
        "../scripts/features.py"
