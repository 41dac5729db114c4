from weaksup.logs import redirect_to_log
from weaksup.text.sharded_targets import merge_shard_targets

redirect_to_log(snakemake.log[0])
merge_shard_targets(list(snakemake.input.parts), snakemake.output[0], dictionary_path=snakemake.input.dictionary)
