from weaksup.logs import redirect_to_log
from weaksup.paper import annotate_table, load_paper_results
from weaksup.text.stats import corpus_stats_rows, write_corpus_stats

redirect_to_log(snakemake.log[0])
targets = dict(zip(snakemake.params.dictionary_sizes, snakemake.input.targets))
rows = corpus_stats_rows(snakemake.params.corpus, snakemake.input.counts, targets, snakemake.params.drop_most_frequent)
write_corpus_stats(rows, snakemake.output[0])

annotate_table(snakemake.output[0], snakemake.params.table_id, load_paper_results(snakemake.params.paper),
               snakemake.params.corpus_source, snakemake.params.corpus_description)
