from weaksup.download import download_file
from weaksup.logs import redirect_to_log

redirect_to_log(snakemake.log[0])
download_file(snakemake.params.url, snakemake.output[0], sha256=snakemake.params.get("sha256", None),
              md5=snakemake.params.get("md5", None))
