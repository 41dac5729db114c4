from weaksup.embeddings.vectors import load_embedding, save_embedding
from weaksup.embeddings.word2vec import restrict_to_dictionary
from weaksup.logs import redirect_to_log
from weaksup.text.dictionary import load_dictionary

redirect_to_log(snakemake.log[0])
vocabulary = load_embedding(snakemake.input.vocabulary)
save_embedding(snakemake.output[0], restrict_to_dictionary(vocabulary, load_dictionary(snakemake.input.dictionary)))
