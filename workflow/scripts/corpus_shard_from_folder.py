from pathlib import Path

from weaksup.atomic import write_json
from weaksup.corpus.folder import build_shard_from_folder
from weaksup.logs import redirect_to_log

redirect_to_log(snakemake.log[0])
captions = snakemake.input.captions
stats = build_shard_from_folder(
    Path(snakemake.input.folder),
    Path(snakemake.output.tar),
    shard_index=int(snakemake.wildcards.shard),
    num_shards=snakemake.params.num_shards,
    image_size=snakemake.params.image_size,
    captions_file=Path(captions) if captions else None,
    max_skipped_fraction=snakemake.params.max_skipped_fraction,
)
write_json(snakemake.output.stats, stats)
