# The authors' trained convnet as a source model: download model_best.hdf5 (or use
# a local copy) and convert it to this project's weights and spec.


rule choi2017_model_download:
    output:
        "resources/choi2017/keras2_model/{model}.hdf5",
    params:
        url=lambda wildcards: config["models"][wildcards.model].get("url", CHOI2017_MODEL_URL),
        sha256=lambda wildcards: config["models"][wildcards.model].get("sha256", CHOI2017_MODEL_SHA256),
    wildcard_constraints:
        model="|".join(CHOI2017_MODELS) or "^$",
    log:
        "logs/models/{model}/download.log",
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
        weights="results/models/{model}/model.pt",
        spec="results/models/{model}/model.json",
    params:
        sha256=lambda wildcards: config["models"][wildcards.model].get("sha256", CHOI2017_MODEL_SHA256),
        duration=lambda wildcards: config["models"][wildcards.model].get("duration", choi2017.FRONTEND.duration),
    wildcard_constraints:
        model="|".join(CHOI2017_MODELS) or "^$",
    log:
        "logs/models/{model}/convert.log",
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/mirtransfer.yaml"
    script:
        "../scripts/choi2017_convert.py"
