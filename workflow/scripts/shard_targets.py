from weaksup.logs import redirect_to_log
from weaksup.text.sharded_targets import build_shard_targets

redirect_to_log(snakemake.log[0])
# One output per dictionary, in the same K order as the inputs.
for dictionary, out_npz in zip(snakemake.input.dictionaries, snakemake.output):
    build_shard_targets(snakemake.input.tokens, dictionary, out_npz)
