# Text: clean and tokenize each shard, count words on the training split, build one dictionary per K, and the
# per-photo targets with the word -> training photos index that class-uniform sampling uses.


rule tokenize_shard:
    input:
        f"{CORPUS_DIR}/shard-{{shard}}.tsv",
    output:
        tokens=f"{TEXT_DIR}/tokens/shard-{{shard}}.tsv",
        counts=f"{TEXT_DIR}/tokens/shard-{{shard}}.counts.tsv",
    params:
        validation_fraction=config["text"]["validation_fraction"],
        test_fraction=config["text"]["test_fraction"],
        split_seed=config["text"]["split_seed"],
    log:
        f"{LOG_DIR}/text/tokenize-{{shard}}.log",
    benchmark:
        f"{LOG_DIR}/benchmarks/text/tokenize-{{shard}}.tsv"
    threads: 1
    conda:
        WEAKSUP_ENV
    script:
        "../scripts/tokenize_shard.py"


rule word_counts:
    input:
        expand(f"{TEXT_DIR}/tokens/shard-{{shard}}.counts.tsv", shard=SHARDS),
    output:
        f"{TEXT_DIR}/word_counts.tsv",
    log:
        f"{LOG_DIR}/text/word_counts.log",
    threads: 1
    conda:
        WEAKSUP_ENV
    script:
        "../scripts/word_counts.py"


rule dictionary:
    input:
        f"{TEXT_DIR}/word_counts.tsv",
    output:
        f"{TEXT_DIR}/dictionary_K{{K}}.tsv",
    params:
        drop_most_frequent=config["text"]["drop_most_frequent"],
    log:
        f"{LOG_DIR}/text/dictionary_K{{K}}.log",
    threads: 1
    conda:
        WEAKSUP_ENV
    script:
        "../scripts/dictionary.py"


# Targets are built per corpus shard, for every K at once, then merged per K: a job holds one shard's tokens,
# and a merge holds its output plus one part, so no step's memory grows with the corpus's tokens.
rule shard_targets:
    input:
        tokens=f"{TEXT_DIR}/tokens/shard-{{shard}}.tsv",
        dictionaries=expand(f"{TEXT_DIR}/dictionary_K{{K}}.tsv", K=DICTIONARY_SIZES),
    output:
        temp(expand(f"{TEXT_DIR}/shard_targets/K{{K}}/shard-{{{{shard}}}}.npz", K=DICTIONARY_SIZES)),
    log:
        f"{LOG_DIR}/text/shard_targets/shard-{{shard}}.log",
    benchmark:
        f"{LOG_DIR}/benchmarks/text/shard_targets/shard-{{shard}}.tsv"
    threads: 1
    conda:
        WEAKSUP_ENV
    script:
        "../scripts/shard_targets.py"


rule targets:
    input:
        # Shard order is the global photo numbering of ImageStore, so `expand` keeps SHARDS in order.
        parts=expand(f"{TEXT_DIR}/shard_targets/K{{{{K}}}}/shard-{{shard}}.npz", shard=SHARDS),
        dictionary=f"{TEXT_DIR}/dictionary_K{{K}}.tsv",
    output:
        f"{TEXT_DIR}/targets_K{{K}}.npz",
    log:
        f"{LOG_DIR}/text/targets_K{{K}}.log",
    benchmark:
        f"{LOG_DIR}/benchmarks/text/targets_K{{K}}.tsv"
    threads: 1
    conda:
        WEAKSUP_ENV
    script:
        "../scripts/targets.py"


rule corpus_stats:
    input:
        counts=f"{TEXT_DIR}/word_counts.tsv",
        targets=expand(f"{TEXT_DIR}/targets_K{{K}}.npz", K=DICTIONARY_SIZES),
    output:
        report(
            "results/corpus_stats.csv",
            caption="../report/corpus_stats.rst",
            category="Corpus",
        ),
    params:
        **TABLE_PARAMS,
        table_id="corpus_stats",
        corpus=CORPUS,
        dictionary_sizes=DICTIONARY_SIZES,
        drop_most_frequent=config["text"]["drop_most_frequent"],
    log:
        f"{LOG_DIR}/text/corpus_stats.log",
    localrule: True
    conda:
        WEAKSUP_ENV
    script:
        "../scripts/corpus_stats.py"
