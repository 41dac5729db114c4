from weaksup.logs import redirect_to_log
from weaksup.tables import write_word_prediction_table

redirect_to_log(snakemake.log[0])
write_word_prediction_table(snakemake.params.corpus, list(snakemake.input.models) + list(snakemake.input.baselines), snakemake.output[0])
