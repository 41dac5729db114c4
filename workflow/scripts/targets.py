from weaksup.logs import redirect_to_log
from weaksup.text.targets_build import build_targets

redirect_to_log(snakemake.log[0])
build_targets(list(snakemake.input.tokens), snakemake.input.dictionary, snakemake.output[0])
