from weaksup.logs import redirect_to_log
from weaksup.paper import annotate_table, load_paper_results
from weaksup.transfer.results import write_table2, write_table3

redirect_to_log(snakemake.log[0])
writer = write_table2 if snakemake.params.table == "table2" else write_table3
writer(snakemake.params.corpus, snakemake.input, snakemake.output[0])

annotate_table(snakemake.output[0], snakemake.params.table_id, load_paper_results(snakemake.params.paper),
               snakemake.params.corpus_source, snakemake.params.corpus_description)
