# Training: one model per architecture, dictionary size and loss. The run folder holds the checkpoint and the
# per-epoch metrics; it is not a declared output, so a failed or killed job never deletes it and a rerun resumes.

TRAINING = config["training"]


rule train:
    input:
        shards=corpus_files(".tar"),
        indexes=corpus_files(".index.npy"),
        targets=f"{TEXT_DIR}/targets_K{{K}}.npz",
        dictionary=f"{TEXT_DIR}/dictionary_K{{K}}.tsv",
    output:
        model=f"{MODEL_DIR}/{{arch}}-K{{K}}-{{loss}}/model.pt",
    params:
        python=PYTHON,
        corpus_dir=CORPUS_DIR,
        run_dir=f"{MODEL_DIR}/{{arch}}-K{{K}}-{{loss}}/run",
        training=TRAINING,
        model_options=lambda wildcards: TRAINING["models"][wildcards.arch],
    log:
        f"{LOG_DIR}/train/{{arch}}-K{{K}}-{{loss}}.log",
    benchmark:
        f"{LOG_DIR}/benchmarks/train/{{arch}}-K{{K}}-{{loss}}.tsv"
    threads: 2
    resources:
        # GPUs for this job; 0 trains on the CPU. Profiles set it (and Snakemake's --resources gpu=N caps the sum).
        gpu=0,
    script:
        "../scripts/train.py"
