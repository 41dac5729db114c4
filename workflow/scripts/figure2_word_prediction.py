from weaksup.figures import figure2_word_prediction
from weaksup.logs import redirect_to_log

redirect_to_log(snakemake.log[0])
sweep = snakemake.params.sweep
stem = snakemake.output[0].removesuffix(".png")
figure2_word_prediction(snakemake.input[0], stem, K=sweep["K"], arch=sweep["arch"], loss=sweep["loss"])
