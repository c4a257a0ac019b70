# The demo corpus: four small music-like datasets synthesised from a seed.


rule demo_corpus:
    output:
        [directory(f"{DEMO_ROOT}/{name}") for name in DEMO_DATASETS],
    params:
        seed=config.get("demo", {}).get("seed", 20170923),
        n_source=config.get("demo", {}).get("n_source", 240),
        n_target=config.get("demo", {}).get("n_target", 120),
        clip_seconds=config.get("demo", {}).get("clip_seconds", 4.0),
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
