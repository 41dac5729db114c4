from weaksup.embeddings import tables
from weaksup.logs import redirect_to_log

redirect_to_log(snakemake.log[0])
writer = {"table4": tables.write_table4, "table5": tables.write_table5, "table6": tables.write_table6,
          "table7": tables.write_table7}[snakemake.params.table]
writer(list(snakemake.input), snakemake.output[0])
