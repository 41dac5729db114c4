import torch

from weaksup.atomic import write_json
from weaksup.baseline import run_word_probe
from weaksup.logs import redirect_to_log
from weaksup.probes import ProbeOptions

redirect_to_log(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
result = run_word_probe(
    snakemake.input.features,
    snakemake.input.targets,
    grid=snakemake.params.grid,
    ks=snakemake.params.ks,
    # float32 halves time and memory. ProbeOptions explains why its gradient tolerance must then be about 1e-4.
    options=ProbeOptions(
        device="cuda" if snakemake.resources.gpu else "cpu",
        dtype=torch.float32,
        tolerance_grad=1e-4,
        max_iter=snakemake.params.max_iter,
    ),
)
source = "ImageNet" if snakemake.params.source == "imagenet" else "clean labels"
names = {"model": f"supervised {snakemake.wildcards.arch} ({source}) + logistic regression", "loss": "",
         "K": int(snakemake.wildcards.K)}
write_json(snakemake.output[0], {**result, **names})
