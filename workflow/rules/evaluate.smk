# Word prediction: precision@k on the test split for every trained model, the frequency baseline and the
# supervised baseline (logistic regressors on a clean-label network's features), collected into Table 1.


rule evaluate_word_prediction:
    input:
        model=f"{MODEL_DIR}/{{arch}}-K{{K}}-{{loss}}-n{{size}}/model.pt",
        shards=corpus_files(".tar"),
        indexes=corpus_files(".index.npy"),
        targets=f"{TEXT_DIR}/targets_K{{K}}.npz",
        subset=train_subset_input,
    output:
        f"{EVAL_DIR}/{{arch}}-K{{K}}-{{loss}}-n{{size}}/word_prediction.json",
    params:
        corpus_dir=CORPUS_DIR,
        ks=config["evaluation"]["precision_at"],
    log:
        f"{LOG_DIR}/evaluate/{{arch}}-K{{K}}-{{loss}}-n{{size}}.log",
    benchmark:
        f"{LOG_DIR}/benchmarks/evaluate/{{arch}}-K{{K}}-{{loss}}-n{{size}}.tsv"
    threads: 2
    resources:
        gpu=0,
    conda:
        WEAKSUP_ENV
    script:
        "../scripts/evaluate_word_prediction.py"


rule frequency_baseline:
    input:
        f"{TEXT_DIR}/targets_K{{K}}.npz",
    output:
        f"{EVAL_DIR}/frequency-K{{K}}/word_prediction.json",
    params:
        ks=config["evaluation"]["precision_at"],
    log:
        f"{LOG_DIR}/evaluate/frequency-K{{K}}.log",
    threads: 1
    conda:
        WEAKSUP_ENV
    script:
        "../scripts/frequency_baseline.py"


rule table1:
    input:
        models=expand(f"{EVAL_DIR}/{{model}}/word_prediction.json", model=model_names()),
        baselines=expand(f"{EVAL_DIR}/frequency-K{{K}}/word_prediction.json", K=DICTIONARY_SIZES),
        supervised=expand(
            f"{EVAL_DIR}/supervised-{{arch}}-K{{K}}/word_prediction.json", arch=ARCHITECTURES, K=DICTIONARY_SIZES
        ),
    output:
        report(
            "results/table1.csv",
            caption="../report/table1.rst",
            category="Experiment 1: word prediction",
        ),
    params:
        **TABLE_PARAMS,
        table_id="table1",
        corpus=CORPUS,
    log:
        f"{LOG_DIR}/evaluate/table1.log",
    localrule: True
    conda:
        WEAKSUP_ENV
    script:
        "../scripts/table1.py"


rule summary:
    input:
        **summary_tables(),
    output:
        report("results/SUMMARY.md", caption="../report/summary.rst", category="Summary"),
    params:
        **TABLE_PARAMS,
    log:
        f"{LOG_DIR}/summary.log",
    localrule: True
    conda:
        WEAKSUP_ENV
    script:
        "../scripts/summary.py"
