import os
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError

from weaksup.config import (
    DEMO_TRANSFER_DATASETS,
    MULTILABEL_TRANSFER_DATASETS,
    ConfigError,
    load_schema,
    trained_models,
    validate_config,
)

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
# Transfer learning is optional: a config without a transfer section builds Experiment 1 only.
TRANSFER = config.get("transfer") or {}
EMBEDDINGS = config.get("embeddings") or {}

CORPUS_DIR = f"data/corpus/{CORPUS}"
TEXT_DIR = f"data/text/{CORPUS}"
MODEL_DIR = f"data/models/{CORPUS}"
EVAL_DIR = f"data/eval/{CORPUS}"
FEATURE_DIR = f"data/features/{CORPUS}"
LOG_DIR = f"logs/{CORPUS}"

# The interpreter that runs Snakemake also runs the training launcher, so no PATH lookup is involved.
PYTHON = sys.executable
# Jobs import this checkout's package, also from a conda environment (envs/) where it is not installed. The
# variable is set while the Snakefile is read, so local jobs inherit it and cluster jobs set it again.
os.environ["PYTHONPATH"] = os.pathsep.join(
    path for path in (str(Path(workflow.basedir) / "src"), os.environ.get("PYTHONPATH")) if path
)
WEAKSUP_ENV = "../../envs/weaksup.yaml"


wildcard_constraints:
    shard="[0-9]{5}",
    K="|".join(str(k) for k in DICTIONARY_SIZES),
    arch="alexnet|googlenet",
    loss="multiclass|one_vs_all",
    # "all" is the whole training split; a number is a nested subset of that many training photos.
    size="all|[0-9]+",
    dataset="|".join(TRANSFER.get("datasets", {})) or "none",
    source="[a-z]+-[A-Za-z0-9_-]+",
    file="[^/]+",
    embedding="[A-Za-z0-9_-]+",
    part="[0-9]{5}",
    benchmark="[a-z0-9_]+",


PAPER_RESULTS = str(Path(workflow.basedir) / "config/paper_results.yaml")


def corpus_description():
    """One line that says which corpus and scale produced the results, written into every table."""
    if SOURCE == "yfcc100m":
        return f"{CORPUS}: YFCC100M, the paper's corpus"
    if SOURCE == "demo":
        photos = config["corpus"]["demo"]["photos"]
        # No commas, so that the CSV cell reads without quotes.
        return (f"{CORPUS}: the bundled demo corpus of {photos} synthetic emoji photos with multilingual captions "
                "- not YFCC100M and not comparable with the paper's numbers")
    return f"{CORPUS}: a {SOURCE} corpus - not YFCC100M and not comparable with the paper's numbers"


# Params of every rule that writes a result table: the paper's numbers and the corpus description.
TABLE_PARAMS = dict(paper=PAPER_RESULTS, corpus_source=SOURCE, corpus_description=corpus_description())


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


def url_file_name(url):
    """File name of a download: the last path segment of its URL, without a query string."""
    return url.split("?")[0].rstrip("/").rsplit("/", 1)[-1]


def flickr_sources():
    """Names of every trained Flickr network whose features are probed: the full-size models and the sweep."""
    return model_names()


def transfer_sources():
    """Every feature source of the transfer tables, per architecture: the Flickr networks, the supervised
    network, both concatenated and the randomly initialised network."""
    baselines = [f"{kind}-{arch}" for arch in ARCHITECTURES for kind in ("supervised", "combined", "random")]
    return flickr_sources() + baselines


def combined_parts(source):
    """The two feature sources that a combined source concatenates (Flickr first), else None."""
    if not source.startswith("combined-"):
        return None
    arch = source.removeprefix("combined-")
    return [model_name(arch, TRANSFER["K"], TRANSFER["loss"]), f"supervised-{arch}"]


def describe_source(source):
    """The `source` record of a transfer result: name, kind, architecture and, for Flickr networks, K, loss and
    training photos ("all" until the probe rule counts them)."""
    kind, _, rest = source.partition("-")
    if kind in ("supervised", "combined", "random"):
        described = {"name": source, "kind": kind, "arch": rest}
        if kind == "combined":
            described.update(K=TRANSFER["K"], loss=TRANSFER["loss"])
        return described
    arch, k, loss, size = source.split("-")
    train_photos = size.removeprefix("n")
    return {"name": source, "kind": "flickr", "arch": arch, "K": int(k.removeprefix("K")), "loss": loss,
            "train_photos": train_photos if train_photos == "all" else int(train_photos)}


def model_of_source(source):
    """The model file whose penultimate features a (non-combined) source is."""
    if source.startswith("supervised-"):
        return SUPERVISED_MODEL.format(arch=source.removeprefix("supervised-"))
    # Flickr networks and random-{arch} networks both live in the model directory under their own name.
    return f"{MODEL_DIR}/{source}/model.pt"


def transfer_results(multilabel):
    """Result files of every feature source on the multi-label dataset of Table 2, or on every multiclass dataset."""
    if multilabel:
        datasets = [TRANSFER["table2_dataset"]]
    else:
        datasets = [d for d in TRANSFER["datasets"] if d not in MULTILABEL_TRANSFER_DATASETS]
    return [f"{EVAL_DIR}/{source}/transfer-{dataset}.json" for source in transfer_sources() for dataset in datasets]


TRANSFER_OUTPUTS = ["results/table2.csv", "results/table3.csv", "results/figure5_transfer_vs_size.png",
                    "results/figure5_transfer_vs_size.pdf", "results/figure2_voc_vs_size.png",
                    "results/figure2_voc_vs_size.pdf"]


EMBEDDING_OUTPUTS = ["results/table4.csv", "results/table5.csv", "results/table6.csv", "results/table7.csv",
                     "results/figure6_word_tsne.png", "results/figure6_word_tsne.pdf"]


def all_targets():
    figures = [f"results/{stem}{ext}" for stem in FIGURES for ext in (".png", ".pdf")]
    transfer = TRANSFER_OUTPUTS if TRANSFER else []
    embeddings = EMBEDDING_OUTPUTS if EMBEDDINGS else []
    downloads = ["results/download_stats.csv"] if SOURCE == "yfcc100m" else []
    return [*downloads, "results/corpus_stats.csv", "results/table1.csv", *figures, *transfer, *embeddings,
            "results/SUMMARY.md"]


def summary_tables():
    """The result tables that the summary page reads, by name."""
    tables = {"corpus_stats": "results/corpus_stats.csv", "table1": "results/table1.csv"}
    if TRANSFER:
        tables.update(table2="results/table2.csv", table3="results/table3.csv")
    if EMBEDDINGS:
        tables.update(table4="results/table4.csv", table6="results/table6.csv")
    return tables
