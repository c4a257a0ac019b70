# The authors' convnets as source models: download their HDF5 (or use a local copy)
# and convert it to this project's weights and spec. Type choi2017_paper: the paper's
# network (weights_transfer/weights_theano.hdf5); choi2017: the later keras2 re-training.


rule choi2017_model_download:
    output:
        f"{DOWNLOADS}/models/{{model}}.hdf5",
    params:
        url=lambda wildcards: converted_file(wildcards.model, "url"),
        sha256=lambda wildcards: converted_file(wildcards.model, "sha256"),
    wildcard_constraints:
        model="|".join(CHOI2017_MODELS) or "^$",
    log:
        log_path("models/{model}/download.log"),
    threads: 1
    resources:
        mem_mb=500,
        runtime=30,
    conda:
        "../../envs/mirtransfer.yaml"
    script:
        "../scripts/choi2017_model_download.py"


rule choi2017_convert:
    input:
        hdf5=choi2017_hdf5,
    output:
        weights=result_path("models/{model}/model.pt"),
        spec=result_path("models/{model}/model.json"),
    params:
        kind=lambda wildcards: config["models"][wildcards.model]["type"],
        sha256=lambda wildcards: converted_file(wildcards.model, "sha256"),
        duration=lambda wildcards: converted_duration(config["models"][wildcards.model]),
    wildcard_constraints:
        model="|".join(CHOI2017_MODELS) or "^$",
    log:
        log_path("models/{model}/convert.log"),
    benchmark:
        benchmark_path("models/{model}/convert.tsv")
    threads: 1
    resources:
        mem_mb=rule_resources("choi2017_convert", "mem_mb", 2000),
        runtime=rule_resources("choi2017_convert", "runtime", 10),
    conda:
        "../../envs/mirtransfer.yaml"
    script:
        "../scripts/choi2017_convert.py"
