import numpy as np
import torch

from weaksup.atomic import write_json
from weaksup.evaluate import evaluate_word_prediction
from weaksup.logs import redirect_to_log
from weaksup.targets import TRAIN, load_targets

redirect_to_log(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
result = evaluate_word_prediction(
    snakemake.input.model,
    snakemake.params.corpus_dir,
    snakemake.input.targets,
    split="test",
    ks=tuple(snakemake.params.ks),
    batch_size=256,
    workers=max(snakemake.threads - 1, 0),
    device="cuda" if snakemake.resources.gpu else "cpu",
)
subset = snakemake.input.subset
train_photos = len(np.load(subset)) if subset else len(load_targets(snakemake.input.targets).photos_in_split(TRAIN))
names = {
    "model": snakemake.wildcards.arch,
    "loss": snakemake.wildcards.loss,
    "K": int(snakemake.wildcards.K),
    "train_photos": train_photos,
    "size_sweep": snakemake.wildcards.size != "all",
}
write_json(snakemake.output[0], {**result, "model_path": result["model"], **names})
