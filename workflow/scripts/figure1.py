from weaksup.figures import figure1_random_photos
from weaksup.logs import redirect_to_log

redirect_to_log(snakemake.log[0])
stem = snakemake.output[0].removesuffix(".png")
figure1_random_photos(snakemake.params.corpus_dir, snakemake.input.targets, stem, n=6, seed=snakemake.params.seed)
