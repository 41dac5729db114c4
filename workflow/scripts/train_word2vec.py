from weaksup.embeddings.vectors import save_embedding
from weaksup.embeddings.word2vec import TokenSentences, fit_word2vec
from weaksup.logs import redirect_to_log

redirect_to_log(snakemake.log[0])
# All splits: Joulin et al. (ECCV 2016) train their word2vec baseline on all Flickr comments.
vocabulary = fit_word2vec(TokenSentences(list(snakemake.input)), workers=snakemake.threads, **snakemake.params.options)
save_embedding(snakemake.output[0], vocabulary)
