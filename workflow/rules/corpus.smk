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
        conda:
            WEAKSUP_ENV
        script:
            "../scripts/demo_corpus_shard.py"


if SOURCE == "yfcc100m":
    YFCC = config["corpus"]["yfcc100m"]
    YFCC_DIR = "data/downloads/yfcc100m"
    # The file name comes from the URL, so the SQLite file and the TSV (.bz2) keep their own names.
    METADATA = f"{YFCC_DIR}/{url_file_name(YFCC['metadata_url']) if YFCC['metadata_url'] else 'yfcc100m_dataset.sql'}"
    IMAGES_DIR = YFCC["images_dir"]
    DOWNLOAD_PARTS = [f"{i:05d}" for i in range(YFCC.get("download_parts", 1))]

    rule download_yfcc_metadata:
        output:
            METADATA,
        params:
            url=YFCC["metadata_url"],
            sha256=YFCC["metadata_sha256"],
            md5=YFCC.get("metadata_md5"),
        log:
            f"{LOG_DIR}/download/yfcc100m_metadata.log",
        threads: 1
        conda:
            WEAKSUP_ENV
        script:
            "../scripts/download_file.py"

    rule yfcc_download_list:
        input:
            METADATA,
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
        conda:
            WEAKSUP_ENV
        script:
            "../scripts/yfcc_download_list.py"

    if YFCC.get("downloader", "builtin") == "builtin":
        WEBDATASET_INPUT = expand(f"{IMAGES_DIR}/{{part}}.tar", part=DOWNLOAD_PARTS)
        DOWNLOAD_STATS = expand(f"{IMAGES_DIR}/{{part}}_stats.json", part=DOWNLOAD_PARTS)

        # One job per part: a rerun fetches only the parts whose tar and stats are missing.
        rule download_yfcc_images:
            input:
                f"{YFCC_DIR}/download_list.tsv",
            output:
                tar=f"{IMAGES_DIR}/{{part}}.tar",
                stats=f"{IMAGES_DIR}/{{part}}_stats.json",
            params:
                num_parts=len(DOWNLOAD_PARTS),
                out_dir=IMAGES_DIR,
                image_size=config["corpus"]["image_size"],
                timeout=YFCC.get("download_timeout", 10),
            log:
                f"{LOG_DIR}/download/images-{{part}}.log",
            benchmark:
                f"{LOG_DIR}/benchmarks/download_images/{{part}}.tsv"
            threads: 16
            conda:
                WEAKSUP_ENV
            script:
                "../scripts/download_images.py"

    else:
        WEBDATASET_INPUT = [IMAGES_DIR]
        DOWNLOAD_STATS = [IMAGES_DIR]

        rule download_yfcc_images:
            input:
                f"{YFCC_DIR}/download_list.tsv",
            output:
                directory(IMAGES_DIR),
            params:
                image_size=config["corpus"]["image_size"],
            log:
                f"{LOG_DIR}/download/images.log",
            benchmark:
                f"{LOG_DIR}/benchmarks/download_images.tsv"
            threads: 16
            conda:
                "../../envs/img2dataset.yaml"
            shell:
                # keep_ratio scales the short side to image_size; the corpus build then rescales to a square as the
                # paper does. No --caption_col: img2dataset would rename `title` and then miss it among the extras.
                "img2dataset --url_list {input} --input_format tsv --url_col url"
                " --save_additional_columns '[\"photo_id\",\"title\",\"description\",\"tags\"]'"
                " --output_format webdataset --output_folder {output} --image_size {params.image_size}"
                " --resize_mode keep_ratio --processes_count {threads} --incremental_mode incremental > {log} 2>&1"

    rule download_stats:
        input:
            DOWNLOAD_STATS,
        output:
            report("results/download_stats.csv", caption="../report/download_stats.rst", category="Corpus"),
        log:
            f"{LOG_DIR}/download/download_stats.log",
        localrule: True
        conda:
            WEAKSUP_ENV
        script:
            "../scripts/download_stats.py"


if SOURCE in ("yfcc100m", "webdataset"):

    rule corpus_shard_from_webdataset:
        input:
            WEBDATASET_INPUT if SOURCE == "yfcc100m" else config["corpus"]["webdataset"]["path"],
        output:
            **SHARD_OUTPUTS,
        params:
            image_size=config["corpus"]["image_size"],
            num_shards=len(SHARDS),
            max_skipped_fraction=config["corpus"].get("max_skipped_fraction"),
            input_dir=IMAGES_DIR if SOURCE == "yfcc100m" else config["corpus"]["webdataset"]["path"],
        log:
            f"{LOG_DIR}/corpus/shard-{{shard}}.log",
        benchmark:
            f"{LOG_DIR}/benchmarks/corpus/shard-{{shard}}.tsv"
        threads: 1
        conda:
            WEAKSUP_ENV
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
            max_skipped_fraction=config["corpus"].get("max_skipped_fraction"),
        log:
            f"{LOG_DIR}/corpus/shard-{{shard}}.log",
        benchmark:
            f"{LOG_DIR}/benchmarks/corpus/shard-{{shard}}.tsv"
        threads: 1
        conda:
            WEAKSUP_ENV
        script:
            "../scripts/corpus_shard_from_folder.py"
