from weaksup.embeddings import tables
from weaksup.logs import redirect_to_log
from weaksup.paper import annotate_table, load_paper_results

redirect_to_log(snakemake.log[0])
writer = {"table4": tables.write_table4, "table5": tables.write_table5, "table6": tables.write_table6,
          "table7": tables.write_table7}[snakemake.params.table]
writer(list(snakemake.input), snakemake.output[0])

annotate_table(snakemake.output[0], snakemake.params.table_id, load_paper_results(snakemake.params.paper),
               snakemake.params.corpus_source, snakemake.params.corpus_description)
