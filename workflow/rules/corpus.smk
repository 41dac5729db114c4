# Corpus sources. Each adapter writes the same shards (see weaksup.corpus.shards): shard-NNNNN.tar with the
# images, .tsv with the text, .index.npy with the byte offsets, .stats.json with what was written and skipped.

SHARD_OUTPUTS = dict(
    tar=f"{CORPUS_DIR}/shard-{{shard}}.tar",
    text=f"{CORPUS_DIR}/shard-{{shard}}.tsv",
    index=f"{CORPUS_DIR}/shard-{{shard}}.index.npy",
    stats=f"{CORPUS_DIR}/shard-{{shard}}.stats.json",
)


if SOURCE == "demo":

    rule demo_corpus_shard:
        output:
            **SHARD_OUTPUTS,
            labels=f"{CORPUS_DIR}/shard-{{shard}}.labels.tsv",
        params:
            demo=config["corpus"]["demo"],
            image_size=config["corpus"]["image_size"],
            num_shards=len(SHARDS),
        log:
            f"{LOG_DIR}/corpus/shard-{{shard}}.log",
        benchmark:
            f"{LOG_DIR}/benchmarks/corpus/shard-{{shard}}.tsv"
        threads: 1
        script:
            "../scripts/demo_corpus_shard.py"


if SOURCE == "yfcc100m":
    YFCC = config["corpus"]["yfcc100m"]
    YFCC_DIR = "data/downloads/yfcc100m"

    rule download_yfcc_metadata:
        output:
            f"{YFCC_DIR}/yfcc100m_dataset.bz2",
        params:
            url=YFCC["metadata_url"],
            sha256=YFCC["metadata_sha256"],
        log:
            f"{LOG_DIR}/download/yfcc100m_metadata.log",
        threads: 1
        script:
            "../scripts/download_file.py"

    rule yfcc_download_list:
        input:
            f"{YFCC_DIR}/yfcc100m_dataset.bz2",
        output:
            f"{YFCC_DIR}/download_list.tsv",
        params:
            # A function, so that Snakemake does not read the template's {fields} as wildcards.
            url_template=lambda wildcards: YFCC["image_url_template"],
        log:
            f"{LOG_DIR}/download/download_list.log",
        benchmark:
            f"{LOG_DIR}/benchmarks/download_list.tsv"
        threads: 1
        script:
            "../scripts/yfcc_download_list.py"

    # NOTE: a single img2dataset job fetches every image; it resumes by itself (incremental mode), but per-shard
    # download statistics and a conda environment for img2dataset are not wired yet.
    rule download_yfcc_images:
        input:
            f"{YFCC_DIR}/download_list.tsv",
        output:
            directory(YFCC["images_dir"]),
        params:
            image_size=config["corpus"]["image_size"],
        log:
            f"{LOG_DIR}/download/images.log",
        benchmark:
            f"{LOG_DIR}/benchmarks/download_images.tsv"
        threads: 16
        shell:
            # keep_ratio scales the short side to image_size; the corpus build then rescales to a square as the
            # paper does. No --caption_col: img2dataset would rename `title` and then miss it among the extras.
            "img2dataset --url_list {input} --input_format tsv --url_col url"
            " --save_additional_columns '[\"photo_id\",\"title\",\"description\",\"tags\"]'"
            " --output_format webdataset --output_folder {output} --image_size {params.image_size}"
            " --resize_mode keep_ratio --processes_count {threads} --incremental_mode incremental > {log} 2>&1"


if SOURCE in ("yfcc100m", "webdataset"):

    rule corpus_shard_from_webdataset:
        input:
            config["corpus"]["yfcc100m"]["images_dir"] if SOURCE == "yfcc100m" else config["corpus"]["webdataset"]["path"],
        output:
            **SHARD_OUTPUTS,
        params:
            image_size=config["corpus"]["image_size"],
            num_shards=len(SHARDS),
        log:
            f"{LOG_DIR}/corpus/shard-{{shard}}.log",
        benchmark:
            f"{LOG_DIR}/benchmarks/corpus/shard-{{shard}}.tsv"
        threads: 1
        script:
            "../scripts/corpus_shard_from_webdataset.py"


if SOURCE == "folder":

    rule corpus_shard_from_folder:
        input:
            folder=config["corpus"]["folder"]["path"],
            # Declared so that an edited captions file rebuilds the corpus and everything after it.
            captions=config["corpus"]["folder"].get("captions") or [],
        output:
            **SHARD_OUTPUTS,
        params:
            image_size=config["corpus"]["image_size"],
            num_shards=len(SHARDS),
        log:
            f"{LOG_DIR}/corpus/shard-{{shard}}.log",
        benchmark:
            f"{LOG_DIR}/benchmarks/corpus/shard-{{shard}}.tsv"
        threads: 1
        script:
            "../scripts/corpus_shard_from_folder.py"
