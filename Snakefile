# mirtransfer: transfer learning for music classification and regression
# (after Choi, Fazekas, Sandler and Cho, ISMIR 2017). See README.md.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/manifest.smk"
include: "workflow/rules/melspec.smk"


rule all:
    input:
        expand("results/{dataset}/summary.json", dataset=DATASETS),
    default_target: True
