from weaksup.embeddings.demo_dictionary import demo_word_languages
from weaksup.figures.word_tsne import figure6_word_tsne
from weaksup.logs import redirect_to_log

redirect_to_log(snakemake.log[0])
settings = snakemake.params.settings
demo = snakemake.params.demo_corpus
# Only the demo corpus records the language of its words.
languages = demo_word_languages(demo["languages"], demo.get("max_glyphs")) if demo else None
figure6_word_tsne(snakemake.input.embedding, snakemake.output[0].removesuffix(".png"), settings["max_words"],
                  languages, settings["perplexity"], n_jobs=snakemake.threads)
