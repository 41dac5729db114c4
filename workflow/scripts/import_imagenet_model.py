from weaksup.logs import redirect_to_log
from weaksup.pretrained import import_torchvision_model

redirect_to_log(snakemake.log[0])
import_torchvision_model(snakemake.wildcards.arch, snakemake.input[0], snakemake.output.model, snakemake.params.crop_size)
