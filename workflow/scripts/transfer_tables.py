from weaksup.logs import redirect_to_log
from weaksup.transfer.results import write_table2, write_table3

redirect_to_log(snakemake.log[0])
writer = write_table2 if snakemake.params.table == "table2" else write_table3
writer(snakemake.params.corpus, snakemake.input, snakemake.output[0])
