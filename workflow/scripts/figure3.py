import torch

from weaksup.figures import figure3_top_photos
from weaksup.logs import redirect_to_log

redirect_to_log(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
stem = snakemake.output[0].removesuffix(".png")
figure3_top_photos(
    snakemake.input.model,
    snakemake.params.corpus_dir,
    snakemake.input.targets,
    snakemake.input.dictionary,
    snakemake.params.words,
    stem,
    workers=max(snakemake.threads - 1, 0),
    device="cuda" if snakemake.resources.gpu else "cpu",
)
