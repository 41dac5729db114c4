# Training: one model per architecture, dictionary size, loss and training-set size ("all" or a nested subset).
# The run folder holds the checkpoint and the per-epoch metrics; it is not a declared output, so a failed or
# killed job never deletes it and a rerun resumes.


def train_subset_input(wildcards):
    if wildcards.size == "all":
        return []
    return f"{TEXT_DIR}/train_subset_n{wildcards.size}.npy"


rule train_subset:
    input:
        f"{TEXT_DIR}/targets_K{DICTIONARY_SIZES[0]}.npz",
    output:
        f"{TEXT_DIR}/train_subset_n{{size}}.npy",
    params:
        seed=TRAINING["seed"],
    log:
        f"{LOG_DIR}/text/train_subset_n{{size}}.log",
    threads: 1
    conda:
        WEAKSUP_ENV
    script:
        "../scripts/train_subset.py"


rule train:
    input:
        shards=corpus_files(".tar"),
        indexes=corpus_files(".index.npy"),
        targets=f"{TEXT_DIR}/targets_K{{K}}.npz",
        dictionary=f"{TEXT_DIR}/dictionary_K{{K}}.tsv",
        subset=train_subset_input,
    output:
        model=f"{MODEL_DIR}/{{arch}}-K{{K}}-{{loss}}-n{{size}}/model.pt",
    params:
        python=PYTHON,
        corpus_dir=CORPUS_DIR,
        run_dir=f"{MODEL_DIR}/{{arch}}-K{{K}}-{{loss}}-n{{size}}/run",
        training=TRAINING,
        model_options=lambda wildcards: TRAINING["models"][wildcards.arch],
    log:
        f"{LOG_DIR}/train/{{arch}}-K{{K}}-{{loss}}-n{{size}}.log",
    benchmark:
        f"{LOG_DIR}/benchmarks/train/{{arch}}-K{{K}}-{{loss}}-n{{size}}.tsv"
    # One thread: on a CPU two single-threaded training jobs run about twice as fast as one with two threads
    # (measured on the demo); profiles give GPU jobs more.
    threads: 1
    resources:
        # GPUs for this job; 0 trains on the CPU. Profiles set it (and Snakemake's --resources gpu=N caps the sum).
        gpu=0,
    conda:
        WEAKSUP_ENV
    script:
        "../scripts/train.py"
