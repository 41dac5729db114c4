from pathlib import Path

from weaksup.atomic import write_json
from weaksup.corpus.demo import DemoConfig, build_demo_shard
from weaksup.logs import redirect_to_log

redirect_to_log(snakemake.log[0])
demo = snakemake.params.demo
stats = build_demo_shard(
    Path(snakemake.output.tar),
    shard_index=int(snakemake.wildcards.shard),
    num_shards=snakemake.params.num_shards,
    num_photos=demo["photos"],
    config=DemoConfig(
        seed=demo["seed"],
        image_size=snakemake.params.image_size,
        languages=list(demo["languages"]),
        max_glyphs=demo["max_glyphs"],
        zipf_exponent=demo["zipf_exponent"],
    ),
)
write_json(snakemake.output.stats, stats)
