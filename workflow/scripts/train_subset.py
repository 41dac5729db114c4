from weaksup.logs import redirect_to_log
from weaksup.subsets import write_train_subset
from weaksup.targets import load_targets

redirect_to_log(snakemake.log[0])
write_train_subset(load_targets(snakemake.input[0]), int(snakemake.wildcards.size), snakemake.params.seed, snakemake.output[0])
