from pathlib import Path

from weaksup.atomic import write_json
from weaksup.corpus.webdataset import assign_inputs, build_shard_from_webdataset
from weaksup.logs import redirect_to_log

redirect_to_log(snakemake.log[0])
inputs = assign_inputs(Path(snakemake.params.input_dir), int(snakemake.wildcards.shard), snakemake.params.num_shards)
stats = build_shard_from_webdataset(inputs, Path(snakemake.output.tar), snakemake.params.image_size,
                                    snakemake.params.max_skipped_fraction)
write_json(snakemake.output.stats, stats)
