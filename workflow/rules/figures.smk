# Figures 1 to 4 of Experiment 1, each as PNG and PDF with a caption in the Snakemake report.

FIGURES_CONFIG = config["figures"]


rule figure1:
    input:
        shards=corpus_files(".tar"),
        text=corpus_files(".tsv"),
        targets=f"{TEXT_DIR}/targets_K{DICTIONARY_SIZES[0]}.npz",
    output:
        report(figure_outputs("figure1_photos"), caption="../report/figure1.rst", category="Experiment 1: word prediction"),
    params:
        corpus_dir=CORPUS_DIR,
        seed=FIGURES_CONFIG["figure1_seed"],
    log:
        f"{LOG_DIR}/figures/figure1.log",
    localrule: True
    conda:
        WEAKSUP_ENV
    script:
        "../scripts/figure1.py"


rule figure2_word_prediction:
    input:
        "results/table1.csv",
    output:
        report(
            figure_outputs("figure2_word_prediction"),
            caption="../report/figure2_word_prediction.rst",
            category="Experiment 1: word prediction",
        ),
    params:
        sweep=SIZE_SWEEP,
    log:
        f"{LOG_DIR}/figures/figure2_word_prediction.log",
    localrule: True
    conda:
        WEAKSUP_ENV
    script:
        "../scripts/figure2_word_prediction.py"


rule figure3:
    input:
        model=figure_model("figure3"),
        shards=corpus_files(".tar"),
        targets=f"{TEXT_DIR}/targets_K{FIGURES_CONFIG['figure3']['K']}.npz",
        dictionary=f"{TEXT_DIR}/dictionary_K{FIGURES_CONFIG['figure3']['K']}.tsv",
    output:
        report(figure_outputs("figure3_top_photos"), caption="../report/figure3.rst", category="Experiment 1: word prediction"),
    params:
        corpus_dir=CORPUS_DIR,
        words=FIGURES_CONFIG["figure3"]["words"],
    log:
        f"{LOG_DIR}/figures/figure3.log",
    threads: 2
    resources:
        gpu=0,
    conda:
        WEAKSUP_ENV
    script:
        "../scripts/figure3.py"


rule figure4_features:
    input:
        model=figure_model("figure4"),
        shards=corpus_files(".tar"),
        targets=f"{TEXT_DIR}/targets_K{FIGURES_CONFIG['figure4']['K']}.npz",
    output:
        f"{FEATURE_DIR}/figure4/test_photos.npz",
    params:
        corpus_dir=CORPUS_DIR,
        max_photos=FIGURES_CONFIG["figure4"]["max_photos"],
        seed=FIGURES_CONFIG["figure1_seed"],
    log:
        f"{LOG_DIR}/figures/figure4_features.log",
    threads: 2
    resources:
        gpu=0,
    conda:
        WEAKSUP_ENV
    script:
        "../scripts/figure4_features.py"


rule figure4:
    input:
        features=f"{FEATURE_DIR}/figure4/test_photos.npz",
        shards=corpus_files(".tar"),
    output:
        report(figure_outputs("figure4_tsne"), caption="../report/figure4.rst", category="Experiment 1: word prediction"),
    params:
        corpus_dir=CORPUS_DIR,
        figure=FIGURES_CONFIG["figure4"],
        seed=FIGURES_CONFIG["figure1_seed"],
    log:
        f"{LOG_DIR}/figures/figure4.log",
    benchmark:
        f"{LOG_DIR}/benchmarks/figures/figure4.tsv"
    threads: 2
    conda:
        WEAKSUP_ENV
    script:
        "../scripts/figure4.py"
