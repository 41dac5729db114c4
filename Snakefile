# Learning visual features from images and their free text: Joulin et al., ECCV 2016, as a workflow.
#
#   snakemake --cores 2 --configfile config/demo.yaml          # the bundled demo corpus
#   snakemake --cores 32 --resources gpu=4                      # YFCC100M, paper scale (config/config.yaml)
from snakemake.utils import min_version

min_version("9.0")


# The paper config is the default. A config file given with --configfile replaces it instead of being merged
# into it key by key, so a demo run carries no paper-only datasets or settings.
if not workflow.config_settings.configfiles:

    configfile: "config/config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/corpus.smk"
include: "workflow/rules/text.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/baseline.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/figures.smk"


if TRANSFER:

    include: "workflow/rules/transfer.smk"


if EMBEDDINGS:

    include: "workflow/rules/embeddings.smk"


rule all:
    input:
        all_targets(),
    default_target: True
