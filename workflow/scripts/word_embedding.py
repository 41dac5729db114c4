from weaksup.embeddings.vectors import WordEmbedding, load_word_embedding, save_embedding
from weaksup.logs import redirect_to_log

redirect_to_log(snakemake.log[0])
words, vectors = load_word_embedding(snakemake.input.model, snakemake.input.dictionary)
save_embedding(snakemake.output[0], WordEmbedding(words, vectors))
