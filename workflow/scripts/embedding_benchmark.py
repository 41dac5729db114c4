from weaksup.embeddings.resources import gather_benchmark
from weaksup.logs import redirect_to_log

redirect_to_log(snakemake.log[0])
downloaded = list(snakemake.input)
gather_benchmark(snakemake.wildcards.benchmark, snakemake.params.spec, snakemake.output[0],
                 downloaded=downloaded[0] if downloaded else None, demo_corpus=snakemake.params.demo_corpus)
