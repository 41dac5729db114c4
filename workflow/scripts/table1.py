from weaksup.logs import redirect_to_log
from weaksup.tables import write_word_prediction_table

redirect_to_log(snakemake.log[0])
results = [*snakemake.input.models, *snakemake.input.supervised, *snakemake.input.baselines]
write_word_prediction_table(snakemake.params.corpus, results, snakemake.output[0])
