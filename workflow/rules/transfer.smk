# Experiment 2, transfer learning: datasets prepared once, penultimate features of every network on them, linear
# probes over several runs, Tables 2 and 3, Figure 5 and Figure 2 (right).

TRANSFER_DIR = f"data/transfer/{CORPUS}"


def transfer_settings(dataset):
    return TRANSFER["datasets"][dataset]


def transfer_archives(wildcards):
    downloads = transfer_settings(wildcards.dataset).get("downloads") or []
    return [f"data/downloads/transfer/{wildcards.dataset}/{url_file_name(d['url'])}" for d in downloads]


def transfer_download(dataset, file):
    for download in transfer_settings(dataset).get("downloads") or []:
        if url_file_name(download["url"]) == file:
            return download
    raise ValueError(f"transfer dataset {dataset} has no download named {file}")


def prepare_inputs(wildcards):
    name = wildcards.dataset
    if name.startswith("corpus_"):
        return {"shards": corpus_files(".tar"), "labels": corpus_files(".labels.tsv"),
                "targets": f"{TEXT_DIR}/targets_K{DICTIONARY_SIZES[0]}.npz"}
    if name in DEMO_TRANSFER_DATASETS or transfer_settings(name).get("path"):
        return {}
    return {"raw": f"data/transfer/raw/{name}"}


def source_model(wildcards):
    return model_of_source(wildcards.source)


def probe_features(wildcards):
    """Feature files of a source; combined features are the Flickr and the supervised network's, concatenated."""
    names = combined_parts(wildcards.source) or [wildcards.source]
    return [f"{FEATURE_DIR}/{name}/transfer-{wildcards.dataset}.npz" for name in names]


def probe_targets(wildcards):
    """The targets file of a Flickr network trained on the whole training split, to count its training photos."""
    source = describe_source(wildcards.source)
    if source["kind"] == "flickr" and source["train_photos"] == "all":
        return [f"{TEXT_DIR}/targets_K{source['K']}.npz"]
    return []


rule download_transfer_archive:
    output:
        "data/downloads/transfer/{dataset}/{file}",
    params:
        url=lambda wildcards: transfer_download(wildcards.dataset, wildcards.file)["url"],
        md5=lambda wildcards: transfer_download(wildcards.dataset, wildcards.file).get("md5"),
        sha256=lambda wildcards: transfer_download(wildcards.dataset, wildcards.file).get("sha256"),
    log:
        f"{LOG_DIR}/download/transfer-{{dataset}}-{{file}}.log",
    threads: 1
    conda:
        WEAKSUP_ENV
    script:
        "../scripts/download_file.py"


rule extract_transfer_archives:
    input:
        transfer_archives,
    output:
        directory("data/transfer/raw/{dataset}"),
    log:
        f"{LOG_DIR}/transfer/extract-{{dataset}}.log",
    benchmark:
        f"{LOG_DIR}/benchmarks/transfer/extract-{{dataset}}.tsv"
    threads: 1
    conda:
        WEAKSUP_ENV
    script:
        "../scripts/transfer_extract.py"


rule prepare_transfer:
    input:
        unpack(prepare_inputs),
    output:
        f"{TRANSFER_DIR}/{{dataset}}/dataset.json",
    params:
        out_dir=lambda wildcards: f"{TRANSFER_DIR}/{wildcards.dataset}",
        demo=lambda wildcards: wildcards.dataset in DEMO_TRANSFER_DATASETS,
        settings=lambda wildcards: transfer_settings(wildcards.dataset),
        root=lambda wildcards: transfer_settings(wildcards.dataset).get("path")
        or f"data/transfer/raw/{wildcards.dataset}",
        image_size=config["corpus"]["image_size"],
        max_skipped_fraction=TRANSFER.get("max_skipped_fraction", 0.01),
        demo_corpus=config["corpus"].get("demo", {}),
        corpus_dir=CORPUS_DIR,
    log:
        f"{LOG_DIR}/transfer/prepare-{{dataset}}.log",
    benchmark:
        f"{LOG_DIR}/benchmarks/transfer/prepare-{{dataset}}.tsv"
    threads: 2
    conda:
        WEAKSUP_ENV
    script:
        "../scripts/transfer_prepare.py"


rule random_init_model:
    output:
        f"{MODEL_DIR}/random-{{arch}}/model.pt",
    params:
        num_classes=TRANSFER.get("K"),
        model_options=lambda wildcards: TRAINING["models"][wildcards.arch],
        seed=TRAINING["seed"],
        crop_size=TRAINING["crop_size"],
    log:
        f"{LOG_DIR}/transfer/random-{{arch}}.log",
    threads: 1
    conda:
        WEAKSUP_ENV
    script:
        "../scripts/random_init_model.py"


rule transfer_features:
    input:
        model=source_model,
        dataset=f"{TRANSFER_DIR}/{{dataset}}/dataset.json",
    output:
        f"{FEATURE_DIR}/{{source}}/transfer-{{dataset}}.npz",
    params:
        dataset_dir=lambda wildcards: f"{TRANSFER_DIR}/{wildcards.dataset}",
    log:
        f"{LOG_DIR}/transfer/features-{{source}}-{{dataset}}.log",
    benchmark:
        f"{LOG_DIR}/benchmarks/transfer/features-{{source}}-{{dataset}}.tsv"
    threads: 1
    resources:
        gpu=0,
    conda:
        WEAKSUP_ENV
    script:
        "../scripts/transfer_features.py"


rule transfer_probe:
    input:
        features=probe_features,
        dataset=f"{TRANSFER_DIR}/{{dataset}}/dataset.json",
        targets=probe_targets,
    output:
        f"{EVAL_DIR}/{{source}}/transfer-{{dataset}}.json",
    params:
        dataset_dir=lambda wildcards: f"{TRANSFER_DIR}/{wildcards.dataset}",
        source=lambda wildcards: describe_source(wildcards.source),
        settings=lambda wildcards: transfer_settings(wildcards.dataset),
        transfer=TRANSFER,
    log:
        f"{LOG_DIR}/transfer/probe-{{source}}-{{dataset}}.log",
    benchmark:
        f"{LOG_DIR}/benchmarks/transfer/probe-{{source}}-{{dataset}}.tsv"
    threads: 1
    resources:
        gpu=0,
    conda:
        WEAKSUP_ENV
    script:
        "../scripts/transfer_probe.py"


rule table3:
    input:
        transfer_results(multilabel=False),
    output:
        report("results/table3.csv", caption="../report/table3.rst", category="Experiment 2: transfer learning"),
    params:
        **TABLE_PARAMS,
        table_id="table3",
        table="table3",
        corpus=CORPUS,
    log:
        f"{LOG_DIR}/tables/table3.log",
    localrule: True
    conda:
        WEAKSUP_ENV
    script:
        "../scripts/transfer_tables.py"


rule table2:
    input:
        transfer_results(multilabel=True),
    output:
        report("results/table2.csv", caption="../report/table2.rst", category="Experiment 2: transfer learning"),
    params:
        **TABLE_PARAMS,
        table_id="table2",
        table="table2",
        corpus=CORPUS,
    log:
        f"{LOG_DIR}/tables/table2.log",
    localrule: True
    conda:
        WEAKSUP_ENV
    script:
        "../scripts/transfer_tables.py"


rule figure5:
    input:
        "results/table3.csv",
    output:
        report(figure_outputs("figure5_transfer_vs_size"), caption="../report/figure5.rst",
               category="Experiment 2: transfer learning"),
    params:
        sweep=SIZE_SWEEP,
        datasets=TRANSFER.get("figure5_datasets"),
        columns={"mean_column": "accuracy_mean", "std_column": "accuracy_std", "ylabel": "test accuracy (%)",
                 "title": "Transfer accuracy against training-set size"},
    log:
        f"{LOG_DIR}/figures/figure5.log",
    localrule: True
    conda:
        WEAKSUP_ENV
    script:
        "../scripts/transfer_figure.py"


rule figure2_voc:
    input:
        "results/table2.csv",
    output:
        report(figure_outputs("figure2_voc_vs_size"), caption="../report/figure2_voc.rst",
               category="Experiment 2: transfer learning"),
    params:
        sweep=SIZE_SWEEP,
        datasets=[TRANSFER.get("table2_dataset")],
        columns={"mean_column": "mAP_mean", "std_column": "mAP_std", "ylabel": "mean AP, VOC 2007 11-point (%)",
                 "title": "Multi-label transfer against training-set size"},
    log:
        f"{LOG_DIR}/figures/figure2_voc.log",
    localrule: True
    conda:
        WEAKSUP_ENV
    script:
        "../scripts/transfer_figure.py"
