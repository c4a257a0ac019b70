# The demo corpus: four small music-like datasets synthesised from a seed.


rule demo_corpus:
    output:
        [directory(f"{DEMO_ROOT}/{name}") for name in demo.DATASETS],
    params:
        seed=config["demo"]["seed"],
        n_source=config["demo"]["n_source"],
        n_target=config["demo"]["n_target"],
        clip_seconds=config["demo"]["clip_seconds"],
    log:
        log_path("demo/demo_corpus.log"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=20,
    conda:
        "../../envs/mirtransfer.yaml"
    script:
        "../scripts/demo.py"
