from weaksup.figures import figure4_tsne
from weaksup.logs import redirect_to_log

redirect_to_log(snakemake.log[0])
figure = snakemake.params.figure
stem = snakemake.output[0].removesuffix(".png")
figure4_tsne(
    snakemake.input.features,
    snakemake.params.corpus_dir,
    stem,
    max_photos=figure["max_photos"],
    seed=snakemake.params.seed,
    perplexity=figure["perplexity"],
    description=f"test photos, {figure['arch']} K={figure['K']} penultimate features",
    n_jobs=snakemake.threads,
)
