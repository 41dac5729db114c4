from weaksup.logs import redirect_to_log
from weaksup.text.dictionary import merge_counts

redirect_to_log(snakemake.log[0])
merge_counts(list(snakemake.input), snakemake.output[0])
