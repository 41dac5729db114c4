from weaksup.corpus.fetch import download_shard
from weaksup.logs import redirect_to_log

redirect_to_log(snakemake.log[0])
download_shard(snakemake.input[0], int(snakemake.wildcards.part), snakemake.params.num_parts,
               snakemake.params.out_dir, snakemake.params.image_size, threads=snakemake.threads,
               timeout=snakemake.params.timeout)
