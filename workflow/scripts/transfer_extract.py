from weaksup.logs import redirect_to_log
from weaksup.transfer.archives import extract_archives

redirect_to_log(snakemake.log[0])
extract_archives(snakemake.input, snakemake.output[0])
