from weaksup.atomic import write_json
from weaksup.evaluate import frequency_baseline
from weaksup.logs import redirect_to_log
from weaksup.targets import load_targets

redirect_to_log(snakemake.log[0])
result = frequency_baseline(load_targets(snakemake.input[0]), tuple(snakemake.params.ks), split="test")
write_json(snakemake.output[0], {"model": "frequency baseline", "loss": "", "K": int(snakemake.wildcards.K), **result})
