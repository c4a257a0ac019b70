# Train a source model (the convnet) on a tagging dataset.


rule train:
    input:
        manifest=lambda wildcards: manifest_file(source_dataset(wildcards.model)),
        mel=lambda wildcards: mel_shards(source_dataset(wildcards.model)),
    output:
        weights=result_path("models/{model}/model.pt"),
        spec=result_path("models/{model}/model.json"),
        metrics=result_path("models/{model}/metrics.json"),
        history=result_path("models/{model}/history.csv"),
        plot=report(
            result_path("models/{model}/training.png"),
            caption="../report/training.rst",
            category="Source model",
        ),
    # compile is read by the script from the config, not a param: it changes no result, and a
    # changed param would retrain.
    params:
        config=lambda wildcards: {
            k: v for k, v in config["models"][wildcards.model].items() if k not in ("dataset", "type", "compile")
        },
    wildcard_constraints:
        model="|".join(TRAINED_MODELS) or "^$",
    log:
        log_path("models/{model}/train.log"),
    benchmark:
        benchmark_path("models/{model}/train.tsv")
    threads: rule_resources("train", "threads", 2)
    resources:
        mem_mb=rule_resources("train", "mem_mb", 4000),
        runtime=rule_resources("train", "runtime", 120),
        gpu=gpu_resources("train"),
    conda:
        "../../envs/mirtransfer.yaml"
    script:
        "../scripts/train.py"
