from pathlib import Path

from weaksup.logs import redirect_to_log
from weaksup.text.pipeline import tokenize_shard

redirect_to_log(snakemake.log[0])
tokenize_shard(
    Path(snakemake.input[0]),
    Path(snakemake.output.tokens),
    Path(snakemake.output.counts),
    validation_fraction=snakemake.params.validation_fraction,
    test_fraction=snakemake.params.test_fraction,
    split_seed=snakemake.params.split_seed,
)
