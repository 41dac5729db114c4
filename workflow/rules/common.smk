import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

from weaksup.config import ConfigError, load_schema, validate_config

try:
    validate_config(config, load_schema(Path(workflow.basedir) / "workflow/schemas/config.schema.yaml"))
except ConfigError as error:
    raise WorkflowError(str(error)) from None


CORPUS = config["corpus"]["name"]
SOURCE = config["corpus"]["source"]
SHARDS = [f"{i:05d}" for i in range(config["corpus"]["num_shards"])]
DICTIONARY_SIZES = config["text"]["dictionary_sizes"]
ARCHITECTURES = config["training"]["architectures"]
LOSSES = config["training"]["losses"]

CORPUS_DIR = f"data/corpus/{CORPUS}"
TEXT_DIR = f"data/text/{CORPUS}"
MODEL_DIR = f"data/models/{CORPUS}"
EVAL_DIR = f"data/eval/{CORPUS}"
LOG_DIR = f"logs/{CORPUS}"

# The interpreter that runs Snakemake also runs the training launcher, so no PATH lookup is involved.
PYTHON = sys.executable


wildcard_constraints:
    shard="[0-9]{5}",
    K="|".join(str(k) for k in DICTIONARY_SIZES),
    arch="|".join(ARCHITECTURES),
    loss="|".join(LOSSES),


def corpus_files(suffix):
    return expand(f"{CORPUS_DIR}/shard-{{shard}}{suffix}", shard=SHARDS)


def model_names():
    return [f"{arch}-K{k}-{loss}" for arch in ARCHITECTURES for k in DICTIONARY_SIZES for loss in LOSSES]


def all_targets():
    return ["results/corpus_stats.csv", "results/table1.csv"]
