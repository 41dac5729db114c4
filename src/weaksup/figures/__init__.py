"""The figures of the word-prediction experiment of Joulin et al. (ECCV 2016), each written as PNG and PDF.

- Figure 1 (`figure1_random_photos`): random training photos with their raw text.
- Figure 2, left (`figure2_word_prediction`): precision@10 against training-set size, from Table 1.
- Figure 3 (`figure3_top_photos`): the test photo with the highest score for each chosen word.
- Figure 4 (`figure4_tsne`): t-SNE map of test photos from their penultimate features.

Every function writes `<out_stem>.png` and `<out_stem>.pdf` atomically with the Agg renderer, gives the same
output for the same inputs and seed, and returns a small dict of what it drew for the log.
"""

from weaksup.figures.curves import figure2_word_prediction
from weaksup.figures.photos import figure1_random_photos
from weaksup.figures.top_photos import figure3_top_photos
from weaksup.figures.tsne import figure4_tsne

__all__ = ["figure1_random_photos", "figure2_word_prediction", "figure3_top_photos", "figure4_tsne"]
