from weaksup.figures.transfer_curves import figure_transfer_vs_size
from weaksup.logs import redirect_to_log

redirect_to_log(snakemake.log[0])
sweep = snakemake.params.sweep
figure_transfer_vs_size(snakemake.input[0], snakemake.output[0].removesuffix(".png"), snakemake.params.datasets,
                        sweep["arch"], sweep["K"], sweep["loss"], **snakemake.params.columns)
