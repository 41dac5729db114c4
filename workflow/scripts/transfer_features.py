import numpy as np
import torch

from weaksup.features import extract_penultimate, save_features
from weaksup.logs import redirect_to_log
from weaksup.transfer.prepared import load_prepared

redirect_to_log(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
dataset = load_prepared(snakemake.params.dataset_dir)
photos = np.arange(len(dataset))
features = extract_penultimate(snakemake.input.model, snakemake.params.dataset_dir, photos,
                               workers=max(snakemake.threads - 1, 0))
save_features(snakemake.output[0], features, photos, float16=True)
