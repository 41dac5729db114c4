import torch

from weaksup.baseline import select_probe_photos
from weaksup.features import extract_penultimate, save_features
from weaksup.logs import redirect_to_log
from weaksup.targets import load_targets

redirect_to_log(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
photos = select_probe_photos(load_targets(snakemake.input.targets), snakemake.params.max_train_photos, snakemake.params.seed)
features = extract_penultimate(
    snakemake.input.model,
    snakemake.params.corpus_dir,
    photos,
    workers=max(snakemake.threads - 1, 0),
    device="cuda" if snakemake.resources.gpu else "cpu",
)
save_features(snakemake.output[0], features, photos, float16=True)
