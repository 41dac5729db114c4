import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

from weaksup.config import ConfigError, load_schema, trained_models, validate_config

try:
    validate_config(config, load_schema(Path(workflow.basedir) / "workflow/schemas/config.schema.yaml"))
except ConfigError as error:
    raise WorkflowError(str(error)) from None


CORPUS = config["corpus"]["name"]
SOURCE = config["corpus"]["source"]
SHARDS = [f"{i:05d}" for i in range(config["corpus"]["num_shards"])]
DICTIONARY_SIZES = config["text"]["dictionary_sizes"]
TRAINING = config["training"]
ARCHITECTURES = TRAINING["architectures"]
SIZE_SWEEP = TRAINING["size_sweep"]
BASELINE = config["baseline"]

CORPUS_DIR = f"data/corpus/{CORPUS}"
TEXT_DIR = f"data/text/{CORPUS}"
MODEL_DIR = f"data/models/{CORPUS}"
EVAL_DIR = f"data/eval/{CORPUS}"
FEATURE_DIR = f"data/features/{CORPUS}"
LOG_DIR = f"logs/{CORPUS}"

# The interpreter that runs Snakemake also runs the training launcher, so no PATH lookup is involved.
PYTHON = sys.executable


wildcard_constraints:
    shard="[0-9]{5}",
    K="|".join(str(k) for k in DICTIONARY_SIZES),
    arch="alexnet|googlenet",
    loss="multiclass|one_vs_all",
    # "all" is the whole training split; a number is a nested subset of that many training photos.
    size="all|[0-9]+",


def corpus_files(suffix):
    return expand(f"{CORPUS_DIR}/shard-{{shard}}{suffix}", shard=SHARDS)


def model_name(arch, K, loss, size="all"):
    return f"{arch}-K{K}-{loss}-n{size}"


def model_names():
    """Names of every model Table 1 reports: the main grid, the extra runs and the size sweep."""
    names = [model_name(arch, k, loss) for arch, k, loss in sorted(trained_models(config))]
    if SIZE_SWEEP:
        sweep = SIZE_SWEEP
        names += [model_name(sweep["arch"], sweep["K"], sweep["loss"], n) for n in sweep["train_photos"]]
    return names


def figure_model(name):
    """Model file of the model a figure section of the config names."""
    ref = config["figures"][name]
    return f"{MODEL_DIR}/{model_name(ref['arch'], ref['K'], ref['loss'])}/model.pt"


def figure_outputs(stem):
    return multiext(f"results/{stem}", ".png", ".pdf")


FIGURES = ["figure1_photos", "figure2_word_prediction", "figure3_top_photos", "figure4_tsne"]


def all_targets():
    figures = [f"results/{stem}{ext}" for stem in FIGURES for ext in (".png", ".pdf")]
    return ["results/corpus_stats.csv", "results/table1.csv", *figures]
