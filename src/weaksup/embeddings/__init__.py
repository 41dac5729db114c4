"""Word embeddings (rows of a word-prediction model's final layer, or word2vec) and their evaluation."""
