# Score every (task, feature set) with the SVM/SVR grid, then tables and figures.
# evaluation.jobs: task (the default) scores all of a task's cells in one job, so that the
# imports (about 1.5 s, more than a small cell's SVM work) are paid once per task; cell
# gives each cell a job of its own (heavy cells spread over a cluster, or one cell rebuilt
# alone). Both write one JSON per (task, feature set), with the same script.

if EVALUATION["jobs"] == "task":

    ruleorder: score_task > score

else:

    ruleorder: score > score_task


rule score:
    input:
        unpack(score_input),
    output:
        result_path("scores/{task}/{feature_set}.json"),
    params:
        **score_params(lambda wildcards: [wildcards.feature_set]),
    log:
        log_path("scores/{task}/{feature_set}.log"),
    benchmark:
        benchmark_path("scores/{task}/{feature_set}.tsv")
    threads: rule_resources("score", "threads", 1)
    resources:
        mem_mb=rule_resources("score", "mem_mb", 2000),
        runtime=rule_resources("score", "runtime", 30),
    group:
        "scores"
    conda:
        "../../envs/mirtransfer.yaml"
    script:
        "../scripts/score.py"


rule score_task:
    input:
        unpack(lambda wildcards: score_input(wildcards, feature_sets())),
    output:
        [result_path(f"scores/{{task}}/{name}.json") for name in feature_sets()],
    params:
        **score_params(lambda wildcards: feature_sets()),
    log:
        log_path("scores/{task}.cells.log"),
    benchmark:
        benchmark_path("scores/{task}.cells.tsv")
    threads: rule_resources("score", "threads", 1)
    resources:
        mem_mb=rule_resources("score", "mem_mb", 2000),
        runtime=rule_resources("score", "runtime", 30) * len(feature_sets()),
    conda:
        "../../envs/mirtransfer.yaml"
    script:
        "../scripts/score.py"


rule summary:
    input:
        scores=score_files(),
        published=list(published_cells_of_summary().values()),
    output:
        scores=report(
            result_path("summary/scores.csv"),
            caption="../report/scores.rst",
            category="Scores",
        ),
        table=result_path("summary/scores.txt"),
        figures=report(
            directory(result_path("summary/figures")),
            patterns=["{name}.png"],
            caption="../report/figures.rst",
            category="Figures",
        ),
    params:
        published=published_cells_of_summary(),
        compared=bool(REPRODUCTION.get("extractor")),
    log:
        log_path("summary/summary.log"),
    benchmark:
        benchmark_path("summary/summary.tsv")
    threads: 1
    resources:
        mem_mb=rule_resources("summary", "mem_mb", 2000),
        runtime=rule_resources("summary", "runtime", 10),
    conda:
        "../../envs/mirtransfer.yaml"
    script:
        "../scripts/summary.py"


rule task_scores:
    input:
        lambda wildcards: score_files(wildcards.task),
    output:
        result_path("scores/{task}.csv"),
    log:
        log_path("scores/{task}.log"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/mirtransfer.yaml"
    script:
        "../scripts/task_scores.py"
