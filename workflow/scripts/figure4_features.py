import numpy as np
import torch

from weaksup.features import extract_penultimate, save_features
from weaksup.logs import redirect_to_log
from weaksup.targets import TEST, load_targets

redirect_to_log(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
test = load_targets(snakemake.input.targets).photos_in_split(TEST)
max_photos = snakemake.params.max_photos
if len(test) > max_photos:
    test = np.sort(np.random.default_rng(snakemake.params.seed).choice(test, size=max_photos, replace=False))
features = extract_penultimate(
    snakemake.input.model,
    snakemake.params.corpus_dir,
    test,
    workers=max(snakemake.threads - 1, 0),
    device="cuda" if snakemake.resources.gpu else "cpu",
)
save_features(snakemake.output[0], features, test, float16=True)
