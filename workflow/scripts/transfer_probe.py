import torch

from weaksup.logs import redirect_to_log
from weaksup.transfer.probe import run_transfer_probe

redirect_to_log(snakemake.log[0])
torch.set_num_threads(snakemake.threads)
# Only a Flickr network trained on the whole training split has a targets file among its inputs.
targets = list(snakemake.input.targets)
run_transfer_probe(list(snakemake.input.features), snakemake.params.dataset_dir, snakemake.output[0],
                   snakemake.params.source, snakemake.params.settings, snakemake.params.transfer,
                   targets_path=targets[0] if targets else None)
