# Learning visual features from images and their free text: Joulin et al., ECCV 2016, as a workflow.
#
#   snakemake --cores 2 --configfile config/demo.yaml          # the bundled demo corpus
#   snakemake --cores 32 --resources gpu=4                      # YFCC100M, paper scale (config/config.yaml)
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/corpus.smk"
include: "workflow/rules/text.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/baseline.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/figures.smk"


rule all:
    input:
        all_targets(),
    default_target: True
