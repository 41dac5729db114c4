from weaksup.logs import redirect_to_log
from weaksup.paper import annotate_table, load_paper_results
from weaksup.tables import write_word_prediction_table

redirect_to_log(snakemake.log[0])
results = [*snakemake.input.models, *snakemake.input.supervised, *snakemake.input.baselines]
write_word_prediction_table(snakemake.params.corpus, results, snakemake.output[0])

annotate_table(snakemake.output[0], snakemake.params.table_id, load_paper_results(snakemake.params.paper),
               snakemake.params.corpus_source, snakemake.params.corpus_description)
