from weaksup.baseline import save_random_init_model
from weaksup.logs import redirect_to_log

redirect_to_log(snakemake.log[0])
save_random_init_model(snakemake.output[0], snakemake.wildcards.arch, snakemake.params.num_classes,
                       snakemake.params.model_options, snakemake.params.seed, snakemake.params.crop_size)
