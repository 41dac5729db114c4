# Experiment 3, word embeddings: the last layer of every network as a word embedding, against word2vec, on
# analogies (Table 4), word similarity (Table 5) and English-French translation (Tables 6 and 7), and Figure 6.

EMBEDDING_DIR = f"data/embeddings/{CORPUS}"


def benchmark_spec(name):
    if name == "analogies":
        return EMBEDDINGS["analogies"]
    if name == "bilingual_dictionary":
        return EMBEDDINGS["bilingual_dictionary"]
    return EMBEDDINGS["similarity"][name]


def benchmark_download(wildcards):
    spec = benchmark_spec(wildcards.benchmark)
    if "url" not in spec:
        return []
    return [f"data/downloads/embeddings/{wildcards.benchmark}/{url_file_name(spec['url'])}"]


def embedding_benchmarks():
    names = ["analogies", "bilingual_dictionary", *EMBEDDINGS["similarity"]]
    return {name: f"{EMBEDDING_DIR}/benchmarks/{name}.txt" for name in names}


def embedding_file(wildcards):
    return f"{EMBEDDING_DIR}/{wildcards.embedding}/embedding.npz"


def embedding_source(name):
    """The `source` record of an embedding result: a network's name, arch, K and loss, or word2vec's K."""
    if name.startswith("word2vec-"):
        return {"name": name, "kind": "word2vec", "arch": None, "K": int(name.removeprefix("word2vec-K")),
                "loss": None}
    arch, k, loss, _ = name.split("-")
    return {"name": name, "kind": "network", "arch": arch, "K": int(k.removeprefix("K")), "loss": loss}


def embedding_results():
    names = [model_name(arch, k, loss) for arch, k, loss in sorted(trained_models(config))]
    names += [f"word2vec-K{k}" for k in DICTIONARY_SIZES]
    return [f"{EVAL_DIR}/{name}/embedding.json" for name in names]


rule download_embedding_benchmark:
    output:
        "data/downloads/embeddings/{benchmark}/{file}",
    params:
        url=lambda wildcards: benchmark_spec(wildcards.benchmark)["url"],
        md5=lambda wildcards: benchmark_spec(wildcards.benchmark).get("md5"),
        sha256=lambda wildcards: benchmark_spec(wildcards.benchmark).get("sha256"),
    log:
        f"{LOG_DIR}/download/embeddings-{{benchmark}}-{{file}}.log",
    threads: 1
    conda:
        WEAKSUP_ENV
    script:
        "../scripts/download_file.py"


rule embedding_benchmark:
    input:
        benchmark_download,
    output:
        f"{EMBEDDING_DIR}/benchmarks/{{benchmark}}.txt",
    params:
        spec=lambda wildcards: benchmark_spec(wildcards.benchmark),
        demo_corpus=config["corpus"].get("demo", {}),
    log:
        f"{LOG_DIR}/embeddings/benchmark-{{benchmark}}.log",
    localrule: True
    conda:
        WEAKSUP_ENV
    script:
        "../scripts/embedding_benchmark.py"


rule word_embedding:
    input:
        model=f"{MODEL_DIR}/{{arch}}-K{{K}}-{{loss}}-nall/model.pt",
        dictionary=f"{TEXT_DIR}/dictionary_K{{K}}.tsv",
    output:
        f"{EMBEDDING_DIR}/{{arch}}-K{{K}}-{{loss}}-nall/embedding.npz",
    log:
        f"{LOG_DIR}/embeddings/{{arch}}-K{{K}}-{{loss}}.log",
    threads: 1
    conda:
        WEAKSUP_ENV
    script:
        "../scripts/word_embedding.py"


rule train_word2vec:
    input:
        expand(f"{TEXT_DIR}/tokens/shard-{{shard}}.tsv", shard=SHARDS),
    output:
        f"{MODEL_DIR}/word2vec/vocabulary.npz",
    params:
        options=EMBEDDINGS.get("word2vec", {}),
    log:
        f"{LOG_DIR}/embeddings/word2vec.log",
    benchmark:
        f"{LOG_DIR}/benchmarks/embeddings/word2vec.tsv"
    threads: 2
    conda:
        WEAKSUP_ENV
    script:
        "../scripts/train_word2vec.py"


rule word2vec_embedding:
    input:
        vocabulary=f"{MODEL_DIR}/word2vec/vocabulary.npz",
        dictionary=f"{TEXT_DIR}/dictionary_K{{K}}.tsv",
    output:
        f"{EMBEDDING_DIR}/word2vec-K{{K}}/embedding.npz",
    log:
        f"{LOG_DIR}/embeddings/word2vec-K{{K}}.log",
    threads: 1
    conda:
        WEAKSUP_ENV
    script:
        "../scripts/word2vec_embedding.py"


rule evaluate_embedding:
    input:
        unpack(lambda wildcards: {"embedding": embedding_file(wildcards), **embedding_benchmarks()}),
    output:
        f"{EVAL_DIR}/{{embedding}}/embedding.json",
    params:
        source=lambda wildcards: embedding_source(wildcards.embedding),
        similarity_sets=list(EMBEDDINGS.get("similarity", {})),
        candidate_set=EMBEDDINGS.get("translation_candidates"),
        corpus=CORPUS,
    log:
        f"{LOG_DIR}/embeddings/evaluate-{{embedding}}.log",
    benchmark:
        f"{LOG_DIR}/benchmarks/embeddings/evaluate-{{embedding}}.tsv"
    threads: 1
    conda:
        WEAKSUP_ENV
    script:
        "../scripts/evaluate_embedding.py"


for number, caption in ((4, "analogies"), (5, "similarity"), (6, "translation"), (7, "top_pairs")):

    rule:
        name:
            f"table{number}"
        input:
            embedding_results(),
        output:
            report(f"results/table{number}.csv", caption=f"../report/table{number}.rst",
                   category="Experiment 3: word embeddings"),
        params:
            **TABLE_PARAMS,
            table=f"table{number}",
            table_id=f"table{number}",
        log:
            f"{LOG_DIR}/tables/table{number}.log",
        localrule: True
        conda:
            WEAKSUP_ENV
        script:
            "../scripts/embedding_tables.py"


rule figure6:
    input:
        embedding=(
            f"{EMBEDDING_DIR}/{EMBEDDINGS['figure6']['arch']}-K{EMBEDDINGS['figure6']['K']}-"
            f"{EMBEDDINGS['figure6']['loss']}-nall/embedding.npz"
        ),
    output:
        report(figure_outputs("figure6_word_tsne"), caption="../report/figure6.rst",
               category="Experiment 3: word embeddings"),
    params:
        settings=EMBEDDINGS["figure6"],
        demo_corpus=config["corpus"].get("demo", {}) if SOURCE == "demo" else {},
    log:
        f"{LOG_DIR}/figures/figure6.log",
    threads: 2
    conda:
        WEAKSUP_ENV
    script:
        "../scripts/figure6.py"
