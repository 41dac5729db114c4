from weaksup.corpus.yfcc import write_download_list
from weaksup.logs import redirect_to_log

redirect_to_log(snakemake.log[0])
write_download_list(snakemake.input[0], snakemake.output[0], snakemake.params.url_template)
