# The supervised baseline of Table 1: a network trained with clean labels (ImageNet for YFCC100M, the demo
# corpus's single-glyph labels for the demo), its penultimate features on the corpus, and L2-regularised logistic
# regressors that predict the dictionary words from them.

SUPERVISED_MODEL = f"{MODEL_DIR}/supervised-{{arch}}/model.pt"


if BASELINE["source"] == "clean_labels":

    rule label_targets:
        input:
            labels=corpus_files(".labels.tsv"),
            word_targets=f"{TEXT_DIR}/targets_K{DICTIONARY_SIZES[0]}.npz",
        output:
            targets=f"{TEXT_DIR}/label_targets.npz",
            classes=f"{TEXT_DIR}/label_classes.tsv",
        params:
            min_photos_per_class=BASELINE["clean_labels"]["min_photos_per_class"],
        log:
            f"{LOG_DIR}/baseline/label_targets.log",
        threads: 1
        conda:
            WEAKSUP_ENV
        script:
            "../scripts/label_targets.py"

    rule train_supervised:
        input:
            shards=corpus_files(".tar"),
            indexes=corpus_files(".index.npy"),
            targets=f"{TEXT_DIR}/label_targets.npz",
        output:
            model=SUPERVISED_MODEL,
        params:
            python=PYTHON,
            corpus_dir=CORPUS_DIR,
            run_dir=f"{MODEL_DIR}/supervised-{{arch}}/run",
            training=TRAINING,
            model_options=lambda wildcards: TRAINING["models"][wildcards.arch],
            loss="multiclass",
        log:
            f"{LOG_DIR}/train/supervised-{{arch}}.log",
        benchmark:
            f"{LOG_DIR}/benchmarks/train/supervised-{{arch}}.tsv"
        threads: 1
        resources:
            gpu=0,
        conda:
            WEAKSUP_ENV
        script:
            "../scripts/train.py"


if BASELINE["source"] == "imagenet":

    rule download_imagenet_weights:
        output:
            "data/downloads/torchvision/{arch}.pth",
        params:
            url=lambda wildcards: BASELINE["imagenet_weights"][wildcards.arch]["url"],
            sha256=lambda wildcards: BASELINE["imagenet_weights"][wildcards.arch]["sha256"],
        log:
            f"{LOG_DIR}/download/imagenet-{{arch}}.log",
        threads: 1
        conda:
            WEAKSUP_ENV
        script:
            "../scripts/download_file.py"

    rule import_imagenet_model:
        input:
            "data/downloads/torchvision/{arch}.pth",
        output:
            model=SUPERVISED_MODEL,
        params:
            crop_size=TRAINING["crop_size"],
        log:
            f"{LOG_DIR}/baseline/import-{{arch}}.log",
        threads: 1
        conda:
            WEAKSUP_ENV
        script:
            "../scripts/import_imagenet_model.py"


rule baseline_features:
    input:
        model=SUPERVISED_MODEL,
        shards=corpus_files(".tar"),
        indexes=corpus_files(".index.npy"),
        # Dictionaries are nested, so the photos with a word of the largest one cover every K.
        targets=f"{TEXT_DIR}/targets_K{max(DICTIONARY_SIZES)}.npz",
    output:
        f"{FEATURE_DIR}/supervised-{{arch}}/probe_photos.npz",
    params:
        corpus_dir=CORPUS_DIR,
        max_train_photos=BASELINE["probe_train_photos"],
        seed=TRAINING["seed"],
    log:
        f"{LOG_DIR}/baseline/features-{{arch}}.log",
    benchmark:
        f"{LOG_DIR}/benchmarks/baseline/features-{{arch}}.tsv"
    threads: 2
    resources:
        gpu=0,
    conda:
        WEAKSUP_ENV
    script:
        "../scripts/baseline_features.py"


rule word_probe:
    input:
        features=f"{FEATURE_DIR}/supervised-{{arch}}/probe_photos.npz",
        targets=f"{TEXT_DIR}/targets_K{{K}}.npz",
    output:
        f"{EVAL_DIR}/supervised-{{arch}}-K{{K}}/word_prediction.json",
    params:
        grid=BASELINE["probe_grid"],
        max_iter=BASELINE["probe_max_iter"],
        ks=config["evaluation"]["precision_at"],
        source=BASELINE["source"],
    log:
        f"{LOG_DIR}/baseline/word_probe-{{arch}}-K{{K}}.log",
    benchmark:
        f"{LOG_DIR}/benchmarks/baseline/word_probe-{{arch}}-K{{K}}.tsv"
    threads: 2
    resources:
        gpu=0,
    conda:
        WEAKSUP_ENV
    script:
        "../scripts/word_probe.py"
