# mirtransfer: transfer learning for music classification and regression
# (after Choi, Fazekas, Sandler and Cho, ISMIR 2017). See README.md.
import os
import sys

from snakemake.utils import min_version

min_version("9.0")

# The project's package comes from this checkout's src/: here, and in every job's script,
# also in the conda environment of `--software-deployment-method conda` (envs/), which does
# not install it (PYTHONPATH is set here for the jobs, which inherit it; not asked of the user).
SRC = os.path.join(workflow.basedir, "src")
sys.path.insert(0, SRC)
os.environ.update(PYTHONPATH=os.pathsep.join(filter(None, [SRC, os.getenv("PYTHONPATH")])))


# The demo config, unless --configfile names another (config/paper.yaml): a named
# config replaces this one rather than being merged into it.
if not workflow.overwrite_configfiles:

    configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/manifest.smk"
include: "workflow/rules/melspec.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/choi2017.smk"
include: "workflow/rules/tagging.smk"
include: "workflow/rules/features.smk"
include: "workflow/rules/mfcc.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/reproduction.smk"


# Downloads run where Snakemake runs, not as cluster jobs: compute nodes often have no internet.
localrules:
    choi2017_download,
    choi2017_model_download,


rule all:
    input:
        expand(result_path("{dataset}/summary.json"), dataset=used_datasets()),
        source_model_outputs(),
        [feature_files(d, e) for d in FEATURE_DATASETS for e in EXTRACTORS],
        result_path("summary/scores.csv") if TASKS else [],
        result_path("reproduction/summary.csv") if REPRODUCTION_TASKS else [],
        feature_comparisons(),
        tagging_outputs(),
    default_target: True
